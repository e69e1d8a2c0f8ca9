"""What `cityhub bench ingest --database-url` deletes after a run, per storage profile. Pure."""

from __future__ import annotations

import pytest
from psycopg import sql

from hub.bench.errors import BenchError
from ingest.bench.database import forget_statements


def _targets(statements: tuple[sql.Composed, ...]) -> list[str]:
    """The relation each DELETE names, in order."""
    return [s.as_string().split(" ")[2] for s in statements]


def test_on_timescale_the_continuous_aggregate_is_left_to_its_refresh() -> None:
    # telemetry_1m is a view there: "cannot delete from view telemetry_1m".
    targets = _targets(forget_statements("timescale"))
    assert '"hub"."telemetry_1m"' not in targets
    assert targets[0] == '"hub"."telemetry"'


def test_on_the_plain_profile_the_rollup_table_is_cleared_too() -> None:
    targets = _targets(forget_statements("plain"))
    assert {'"hub"."telemetry"', '"hub"."telemetry_1m"', '"hub"."dead_letters"'} <= set(targets)


@pytest.mark.parametrize("profile", ["plain", "timescale"])
def test_devices_go_last_and_every_delete_is_limited_to_the_fleet(profile: str) -> None:
    statements = forget_statements(profile)
    assert _targets(statements)[-2:] == ['"hub"."devices"', '"hub"."devices"']
    assert all(s.as_string().count("LIKE %s") == 1 for s in statements)


def test_an_unknown_profile_is_refused_rather_than_guessed() -> None:
    with pytest.raises(BenchError, match="storage profile"):
        forget_statements(None)
