"""A pytest plugin for ``cityhub bench fuzz`` (hub/bench/fuzz.py): how many examples
each fuzz test ran and whether it failed, written as JSON to the file that
CITYHUB_FUZZ_REPORT names when the session ends.

    python -m pytest tests/fuzz -p tests.fuzz.collect
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis.statistics import collector

REPORT_ENV = "CITYHUB_FUZZ_REPORT"
TARGETS = {
    "test_planner.py": "payload decoder + planner",
    "test_validator.py": "validator",
    "test_fiware.py": "FIWARE converter",
    "test_topics.py": "topic parser",
    "test_redaction.py": "dead-letter redaction",
    "test_console_api.py": "console API",
}
# Examples that ran the test: generated or replayed, not the shrinker's attempts.
_PHASES = ("explicit-phase", "reuse-phase", "generate-phase")
_results: dict[str, dict[str, Any]] = {}


def target(nodeid: str) -> str:
    """The table row a test belongs to: its module's target, per caller for the console."""
    path, _, name = nodeid.partition("::")
    label = TARGETS.get(path.rsplit("/", 1)[-1], path)
    if label == "console API" and name.endswith("]"):
        label = f"{label} as {name[:-1].rsplit('-', 1)[-1]}"
    return label


def _entry(nodeid: str) -> dict[str, Any]:
    return _results.setdefault(nodeid, {"target": target(nodeid), "examples": 0,
                                        "failed": False, "xfailed": False})


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    entry, previous = _entry(item.nodeid), collector.value

    def note(stats: Any) -> None:
        entry["examples"] += sum(1 for phase in _PHASES
                                 for case in stats.get(phase, {}).get("test-cases", [])
                                 if case["status"] in ("valid", "interesting"))
        if previous is not None:
            previous(stats)

    # hypothesis types the variable by its default (None); the plugin sets a callable too.
    with collector.with_value(note):  # type: ignore[arg-type]
        return (yield)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _entry(report.nodeid)
    if hasattr(report, "wasxfail"):
        entry["xfailed"] = True
    elif report.failed:
        entry["failed"] = True


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get(REPORT_ENV)
    if path:
        Path(path).write_text(json.dumps(_results, indent=1), encoding="utf-8")
