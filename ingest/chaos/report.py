"""The chaos table: printed by `cityhub bench chaos` and written to docs/benchmarks.md."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.table import Table

from hub.bench.machine import Machine
from hub.doc_sections import replace_section
from ingest.chaos.lab import Outcome, Scale

HEADING = "## Chaos"
COLUMNS = ("scenario", "fault", "published", "acked", "lost", "dup", "recovered", "unexpected",
           "dead letters", "bound", "")


def _verdict(outcome: Outcome) -> str:
    if not outcome.within_bound:
        return "FAIL"
    return "ok" if outcome.bound == 0 else "within the broker's bound"


def _row(outcome: Outcome) -> tuple[str, ...]:
    c = outcome.counts
    return (outcome.scenario, outcome.fault, f"{c.published:,}", f"{c.acknowledged:,}",
            f"{c.lost:,}", f"{c.duplicated:,}", f"{c.recovered:,}", f"{c.unexpected:,}",
            f"{c.dead_letters:,}", f"{outcome.bound:,}", _verdict(outcome))


def _details(outcome: Outcome) -> str:
    shown = ", ".join(f"{k} {v:,.1f}" if v % 1 else f"{k} {int(v):,}"
                      for k, v in outcome.details.items())
    return f"{outcome.note}" + (f" ({shown})" if shown else "")


def table(outcomes: Sequence[Outcome], skipped: Sequence[tuple[str, str]]) -> Table:
    """The terminal's table: the fault itself is left to docs/benchmarks.md."""
    out = Table(COLUMNS[0], *COLUMNS[2:], title="cityhub bench chaos")
    for outcome in outcomes:
        row = _row(outcome)
        out.add_row(row[0], *row[2:])
    for name, why in skipped:
        out.add_row(name, f"not run: {why}", *[""] * (len(COLUMNS) - 3))
    return out


def markdown(outcomes: Sequence[Outcome], skipped: Sequence[tuple[str, str]], scale: Scale,
             machine: Machine, command: str, finished: datetime) -> str:
    lines = [
        HEADING, "",
        f"`{command}` on {finished:%Y-%m-%d}: {machine.hardware}; {machine.software}. "
        f"Readings at {scale.rate:,.0f} a second from {scale.devices} devices, "
        f"{scale.lead_s:.0f} s before each fault and after it, faults of {scale.fault_s:.0f} s. "
        "What each scenario does and why the bounds are what they are: docs/chaos.md.", "",
        "| " + " | ".join(COLUMNS[:-1]) + " | verdict |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(_row(o)) + " |" for o in outcomes]
    lines += [f"| {name} | not run: {why} |" + " |" * (len(COLUMNS) - 2) for name, why in skipped]
    lines += ["", "Per scenario:", ""]
    lines += [f"- **{o.scenario}** ({o.seconds:.0f} s): {_details(o)}." for o in outcomes]
    return "\n".join(lines) + "\n"


def write_docs(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(text, section, HEADING), encoding="utf-8")
