"""The analytics commands' --from/--to: a time they cannot read is refused, naming the option."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import child_env


@pytest.mark.parametrize(("args", "said"), [
    (["train", "--from", "yesterday"], "--from: 'yesterday' is not an ISO-8601 time"),
    (["forecast", "train", "--to", "2026-13-01"], "--to: '2026-13-01' is not an ISO-8601 time"),
    (["forecast", "evaluate", "--from", "2026-05-01", "--to", "noon"],
     "--to: 'noon' is not an ISO-8601 time"),
])
def test_an_unreadable_time_is_one_sentence_naming_the_option(args: list[str], said: str) -> None:
    # No database is given: the options are checked before any connection is made.
    result = subprocess.run([sys.executable, "-m", "hub", "analytics", *args], env=child_env(),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert said in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "analytics", "train", "--from", "2026-05-02", "--to", "2026-05-01"],
        env=child_env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "--from must be before --to." in result.stderr
