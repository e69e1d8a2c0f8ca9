"""The figures of `cityhub bench query`: a rich table for the terminal and the "Query and
export" section of docs/benchmarks.md. Pure."""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.table import Table

from ops_console.bench_query.data import Dataset
from ops_console.bench_query.measure import NAIVE_SQL, Comparison, Export, Latencies

HEADING = "## Query and export"
TARGET_P99_MS = 100.0
TARGET_ROWS_PER_S = 1_000_000
TARGET_RSS_MIB = 300.0
TARGET_RATIO = 5.0
MIB = 1024 * 1024


def percentile(values: tuple[float, ...], q: float) -> float:
    """The nearest-rank *q* quantile of *values*; NaN when there are none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


@dataclass(frozen=True, slots=True)
class Run:
    data: Dataset
    all_stations: Latencies
    one_station: Latencies
    export: Export
    compare: Comparison
    generate_s: float

    @property
    def ratio(self) -> float:
        return statistics.median(self.compare.read_sql_s) / statistics.median(self.compare.client_s)

    def rows(self) -> list[tuple[str, str, str]]:
        """(figure, value, target with ✓/✗) for the table and the document."""
        out: list[tuple[str, str, str]] = []
        for lat, target in ((self.all_stations, True), (self.one_station, False)):
            p50 = percentile(lat.seconds, 0.5) * 1000
            p99 = percentile(lat.seconds, 0.99) * 1000
            goal = f"p99 < {TARGET_P99_MS:.0f} ms {_mark(p99 < TARGET_P99_MS)}" if target else ""
            out.append((f"rows API, {lat.what} ({lat.rows:,} rows, Arrow), p50 / p99 of "
                        f"{len(lat.seconds)} (ms)", f"{p50:,.1f} / {p99:,.1f}", goal))
        e = self.export
        fast = e.rows_per_s >= TARGET_ROWS_PER_S
        out.append((f"Parquet export, full resolution, {e.rows:,} rows ({e.bytes / MIB:,.0f} MiB): rows/s",
                     f"{e.rows_per_s:,.0f}", f"≥ {TARGET_ROWS_PER_S:,} {_mark(fast)}"))
        peak = e.peak_rss / MIB
        out.append(("… console peak RSS (idle before) (MiB)", f"{peak:,.0f} ({e.baseline_rss / MIB:,.0f})",
                    f"< {TARGET_RSS_MIB:.0f} {_mark(peak < TARGET_RSS_MIB)}"))
        c = self.compare
        out.append((f"{c.rows:,} rows into a DataFrame: `HubClient.read()`, median of {len(c.client_s)} (s)",
                    f"{statistics.median(c.client_s):,.2f}", ""))
        out.append((f"… `pandas.read_sql` over the analyst's SQL login, median of {len(c.read_sql_s)} (s)",
                    f"{statistics.median(c.read_sql_s):,.2f}", ""))
        out.append(("… ratio read_sql / client", f"{self.ratio:,.1f}×",
                    f"≥ {TARGET_RATIO:.0f}× {_mark(self.ratio >= TARGET_RATIO)}"))
        return out

    def table(self) -> Table:
        table = Table(title="cityhub bench query")
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_column("target")
        for row in self.rows():
            table.add_row(*row)
        return table


def render(run: Run, command: str) -> str:
    d = run.data
    lines = [
        HEADING, "",
        f"`{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {os.cpu_count()} cores "
        f"({platform.machine()}), Python {platform.python_version()}; PostgreSQL, the console "
        "(`cityhub console`, a child process) and the clients on one machine. "
        f"The data: {d.devices:,} air-quality stations with one PM2.5 reading a minute for "
        f"{d.minutes / 1440:g} days, {d.rows:,} rows in `hub.telemetry`, as many 1-minute "
        f"rollup rows and {d.rows // 60:,} hourly ones, generated in the database in "
        f"{run.generate_s:,.0f} s. "
        "Latencies run from the request to the last byte read. The export streams "
        "`GET /api/v1/datasets/air_quality/rows?format=parquet` to a file while a thread samples "
        "the console's resident set every 20 ms; the row count is checked in the file. "
        "The comparison reads the same full-resolution rows of every station into a DataFrame "
        "indexed by time, through `HubClient.read()` (Arrow over HTTP) and through "
        f"`pandas.read_sql` of `{NAIVE_SQL}` on a "
        "psycopg connection of a LOGIN role in `cityhub_analyst`, alternating, after a warm-up of each.",
        "",
        "| figure | value | target |", "|---|---:|---|",
    ]
    lines += [f"| {figure} | {value} | {target} |" for figure, value, target in run.rows()]
    return "\n".join(lines) + "\n"
