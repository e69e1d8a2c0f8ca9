"""`cityhub bench privacy`: time and peak memory of releasing and verifying a week of
15-minute smart-meter readings for 10,000 households (docs/benchmarks.md, "Privacy").

On a scratch database of the server (CITYHUB_DATABASE_URL, else the local one): the
synthetic households (synth_meters.py) are written by COPY (timed apart: it is the
set-up, not the release), then each release method runs and is verified. Peak memory
is the highest resident set size of this process while the step runs, sampled every
20 ms, less the size before it.
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import psutil
import psycopg
import typer
from rich.console import Console

from analytics.privacy import release, verify
from analytics.privacy.method import Period
from analytics.privacy.synth_meters import make_meters, write_meters
from hub import doc_sections
from hub.bench.database import DEFAULT_SERVER
from hub.catalogue import load_catalogue
from hub.scratch import scratch_database
from hub.settings import load_settings

HEADING = "## Privacy"


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    seconds: float
    peak_mib: float
    detail: str


@contextmanager
def _peak() -> Iterator[list[float]]:
    """Yields a list that holds, after the block, the peak RSS growth in MiB."""
    process = psutil.Process()
    base = process.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out: list[float] = []
    try:
        yield out
    finally:
        done.set()
        thread.join()
        out.append((max(peak[0], process.memory_info().rss) - base) / 2**20)


def _timed(name: str, call: Callable[[], str]) -> Step:
    with _peak() as peak:
        started = time.monotonic()
        detail = call()
        seconds = time.monotonic() - started
    return Step(name, seconds, peak[0], detail)


def measure(url: str, households: int, days: int) -> list[Step]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    period = Period(start, start + timedelta(days=days))
    request = release.ReleaseRequest("benchmark", ("nobody",), datetime.now(UTC) + timedelta(days=1))
    steps: list[Step] = []
    with psycopg.connect(url, autocommit=True) as conn:
        steps.append(_timed("set-up: make the households, COPY their readings", lambda: (
            f"{write_meters(conn, make_meters(households, start, days)):,} readings")))
        for dataset in ("meter_load", "meter_households"):
            made: list[Any] = []

            def run(dataset: str = dataset, made: list[Any] = made) -> str:
                record = release.make_release(conn, dataset, request, period, actor="bench")
                made.append(record)
                m = record.measures
                lost = (f"{m['rows_suppressed']} rows suppressed" if "rows_suppressed" in m
                        else f"{m.get('household_hours_suppressed')} household-hours suppressed, "
                             f"MAE {m.get('utility_mae_kwh')} kWh")
                return (f"{record.row_count:,} rows; k {m.get('k')}, l {m.get('l', '–')}, "
                        f"cells suppressed {m.get('cells_suppressed')}, {lost}, "
                        f"linkage {record.linkage_success:.3%}, epsilon {record.epsilon:g}")

            steps.append(_timed(f"release {dataset}", run))

            def check(dataset: str = dataset) -> str:
                result = verify.verify(conn, dataset)
                return ("all checks pass" if result.ok
                        else "FAILED: " + "; ".join(c.name for c in result.checks if not c.ok))

            steps.append(_timed(f"verify {dataset}", check))
    return steps


def render(steps: list[Step], households: int, days: int, version: str) -> str:
    lines = [HEADING, "",
             f"`cityhub bench privacy` on {datetime.now(UTC):%Y-%m-%d}: {households:,} synthetic "
             f"households "
             f"(analytics/privacy/synth_meters.py), {days} days of 15-minute `power_kw` readings, "
             f"PostgreSQL {version}, {psutil.cpu_count()} cores, Python {platform.python_version()}. "
             "Peak memory is the growth of the process's resident set over its size when the step "
             "starts (memory freed by an earlier step is reused, hence the small figures of "
             "verification); verification "
             "includes pycanon (household table), the SQL recomputation of every cell from hub.telemetry "
             "(meter aggregates) and the scan of the whole open schema.", "",
             "| step | time | peak memory | result |", "|---|---:|---:|---|"]
    lines += [f"| {s.name} | {s.seconds:.1f} s | {s.peak_mib:.0f} MiB | {s.detail} |" for s in steps]
    return "\n".join(lines) + "\n"


def bench_privacy(
    households: Annotated[int, typer.Option(min=100, help="Synthetic households.")] = 10_000,
    days: Annotated[int, typer.Option(min=1, help="Days of 15-minute readings.")] = 7,
    doc: Annotated[Path, typer.Option(help="Markdown file whose Privacy section to replace.")]
    = Path("docs/benchmarks.md"),
    write: Annotated[bool, typer.Option(help="Write the figures into --doc.")] = True,
) -> None:
    """Release and verify a week of smart-meter data: time and peak memory."""
    server = load_settings().database_url or DEFAULT_SERVER
    with psycopg.connect(server, autocommit=True) as admin:
        row = admin.execute("SHOW server_version").fetchone()
        version = str(row[0]).split()[0] if row else "unknown"
    with scratch_database(server, "cityhub_bench_privacy", load_catalogue()) as url:
        steps = measure(url, households, days)
    out = Console(highlight=False)
    for s in steps:
        out.print(f"{s.name}: {s.seconds:.1f} s, peak +{s.peak_mib:.0f} MiB — {s.detail}")
    if write:
        current = doc.read_text(encoding="utf-8") if doc.exists() else ""
        section = render(steps, households, days, version)
        doc.write_text(doc_sections.replace_section(current, section, HEADING), encoding="utf-8")
        out.print(f"wrote the Privacy section of {doc}")
