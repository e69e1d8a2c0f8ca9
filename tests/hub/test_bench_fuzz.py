"""`cityhub bench fuzz`: its table, its docs section, and its one line when the test extra
is missing (the suite itself is tests/fuzz)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from hub.bench import fuzz
from hub.cli.main import _plugins, app
from tests.fuzz.collect import target

REPORT: dict[str, dict[str, object]] = {
    "tests/fuzz/test_topics.py::test_a": {"target": "topic parser", "examples": 200,
                                          "failed": False, "xfailed": False},
    "tests/fuzz/test_topics.py::test_b": {"target": "topic parser", "examples": 150,
                                          "failed": True, "xfailed": False},
    "tests/fuzz/test_redaction.py::test_c": {"target": "dead-letter redaction", "examples": 0,
                                             "failed": False, "xfailed": True},
}


def test_the_report_becomes_one_row_per_target() -> None:
    assert fuzz.rows(REPORT) == [fuzz.Row("topic parser", 2, 350, 1, 0),
                                 fuzz.Row("dead-letter redaction", 1, 0, 0, 1)]


def test_the_docs_section_holds_the_table() -> None:
    text = fuzz.markdown(fuzz.rows(REPORT), "long", datetime(2026, 12, 3, 9, 0, tzinfo=UTC), 480.0)
    assert text.startswith("## The last long fuzz run\n")
    assert "| topic parser | 2 | 350 | 1 | 0 |" in text
    assert "2026-12-03 09:00 UTC, 8.0 min" in text


def test_console_tests_are_counted_per_caller() -> None:
    assert target("tests/fuzz/test_console_api.py::test_x[GET /api/v1/devices-analyst]") == \
        "console API as analyst"
    assert target("tests/fuzz/test_planner.py::test_y") == "payload decoder + planner"


def test_without_the_test_extra_it_says_what_is_missing_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "schemathesis" else real(name, *a))
    _plugins()
    result = CliRunner().invoke(app, ["bench", "fuzz"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "needs schemathesis" in lines[0]
    assert "pip install -c constraints.txt -e '.[test]'" in lines[0]
