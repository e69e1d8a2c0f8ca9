"""`cityhub bench fuzz`: the fuzz suite (tests/fuzz) with many more examples than `make
test` gives it, and a table of what ran: target, tests, examples, failures.

It runs pytest in a child process over a checkout's tests/fuzz with the hypothesis
profile ``long`` (tests/fuzz/profiles.py) and the plugin tests/fuzz/collect.py, which
counts each test's examples. hypothesis, schemathesis and pytest come with the ``test``
extra, not a base install: without them the command says so in one line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import console, errors
from hub.doc_sections import replace_section

NEEDS = ("pytest", "hypothesis", "schemathesis")
ROOT = Path(__file__).resolve().parents[2]
SUITE = Path("tests") / "fuzz"
HEADING = "## The last long fuzz run"


class Profile(StrEnum):
    long = "long"
    ci = "ci"


@dataclass(frozen=True, slots=True)
class Row:
    target: str
    tests: int
    examples: int
    failures: int
    known_bugs: int  # tests marked xfail(strict=True) that name a bug


def rows(report: dict[str, dict[str, object]]) -> list[Row]:
    """One row per target of the collector's report (tests/fuzz/collect.py), in its order."""
    grouped: dict[str, list[dict[str, object]]] = defaultdict(list)
    for entry in report.values():
        grouped[str(entry["target"])].append(entry)
    return [Row(name, len(tests), sum(int(str(t["examples"])) for t in tests),
                sum(bool(t["failed"]) for t in tests), sum(bool(t["xfailed"]) for t in tests))
            for name, tests in grouped.items()]


def table(found: list[Row]) -> Table:
    out = Table("target", "tests", "examples", "failures", "known bugs (xfail)")
    for row in found:
        out.add_row(row.target, f"{row.tests:,}", f"{row.examples:,}", str(row.failures),
                    str(row.known_bugs))
    return out


def markdown(found: list[Row], profile: str, when: datetime, seconds: float) -> str:
    lines = [HEADING, "", f"`cityhub bench fuzz --profile {profile}` on {when:%Y-%m-%d %H:%M} UTC, "
                          f"{seconds / 60:.1f} min on {os.cpu_count()} cores:", "",
             "| target | tests | examples | failures | known bugs (xfail) |", "|---|--:|--:|--:|--:|"]
    lines += [f"| {r.target} | {r.tests:,} | {r.examples:,} | {r.failures} | {r.known_bugs} |"
              for r in found]
    return "\n".join(lines) + "\n"


def _missing() -> list[str]:
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def bench_fuzz(
    profile: Annotated[Profile, typer.Option(help="Hypothesis profile: long (thousands of examples "
                                                  "per test) or ci (what `make test` runs).")]
    = Profile.long,
    select: Annotated[str | None, typer.Option(
        "-k", help="Only the tests whose names match this pytest -k expression.")] = None,
    docs: Annotated[Path, typer.Option(help="Write the table into this file's section "
                                            f"{HEADING[3:]!r}.")] = Path("docs/testing.md"),
    write_docs: Annotated[bool, typer.Option(help="Update the --docs file.")] = False,
) -> None:
    """Fuzz the decoder, validator, FIWARE converter, topic parser and console API."""
    missing = _missing()
    if missing:
        errors.print(f"[red]error:[/red] `cityhub bench fuzz` needs {', '.join(missing)} (the test "
                     "extra), which is not installed: pip install -c constraints.txt -e '.\\[test]'",
                     soft_wrap=True)
        raise typer.Exit(1)
    if not (ROOT / SUITE).is_dir():
        errors.print(f"[red]error:[/red] `cityhub bench fuzz` runs {SUITE} of a cityhub checkout, "
                     f"and {ROOT / SUITE} is not there", soft_wrap=True)
        raise typer.Exit(1)
    with tempfile.TemporaryDirectory(prefix="cityhub-fuzz-") as scratch:
        report_file = Path(scratch) / "report.json"
        env = os.environ | {"CITYHUB_FUZZ_PROFILE": profile.value, "CITYHUB_FUZZ_REPORT": str(report_file)}
        command = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "tests.fuzz.collect",
                   "-p", "no:cacheprovider", *(["-k", select] if select else [])]
        started = datetime.now(UTC)
        code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        if not report_file.exists():
            errors.print(f"[red]error:[/red] the fuzz suite stopped before it ran (pytest exit {code})")
            raise typer.Exit(1)
        found = rows(json.loads(report_file.read_text(encoding="utf-8")))
    console.print(table(found))
    if write_docs:
        text = docs.read_text(encoding="utf-8") if docs.exists() else ""
        took = (datetime.now(UTC) - started).total_seconds()
        docs.write_text(replace_section(text, markdown(found, profile.value, started, took), HEADING),
                        encoding="utf-8")
        console.print(f"table written to {docs}")
    if code != 0 or any(r.failures for r in found):
        raise typer.Exit(1)
