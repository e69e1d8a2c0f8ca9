"""`cityhub bench storage`: narrow rows per metric against wide rows per kind.

Makes a throw-away database on the configured server, COPYs the same air-quality
readings into each candidate layout the way ingest writes (binary COPY, one batch
per transaction), then measures the write rate, the size on disk and a typical
dashboard query. The figures print as a table and replace the "Storage layout"
section of docs/benchmarks.md; docs/storage.md explains the choice they led to.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from psycopg import sql
from psycopg.types.json import Jsonb
from rich.console import Console
from rich.table import Table

from hub import doc_sections
from hub.bench.database import DEFAULT_SERVER
from hub.db import connect
from hub.scratch import scratch_database
from hub.settings import load_settings

Conn = psycopg.Connection[tuple[object, ...]]
Row = tuple[object, ...]
# One air-quality reading: its time, its device and the value of each metric.
Reading = tuple[datetime, str, dict[str, float]]

SCHEMA = "bench"
HEADING = "## Storage layout"
DAY = timedelta(days=1)
# A fixed start keeps runs comparable; midnight UTC so "one day" is one partition.
START = datetime(2025, 1, 6, tzinfo=UTC)
# The air-quality kind of hub/kinds.json with the precision stations really send:
# the decimals decide how large a jsonb document is.
METRICS: dict[str, tuple[float, float, int]] = {
    "pm10": (5, 150, 1), "pm25": (2, 80, 1), "o3": (0, 0.12, 3), "no2": (0, 0.08, 3),
    "co": (0.1, 2, 2), "so2": (0, 0.02, 3), "temperature": (-10, 35, 1), "humidity": (10, 100, 1),
}
QUERY_METRIC = "pm25"
_BIN = sql.SQL("date_bin('1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00+00')")
_WHERE = sql.SQL("device_id = %(device)s AND ts >= %(lo)s AND ts < %(hi)s")


@dataclass(frozen=True, slots=True)
class Layout:
    """One candidate table: its columns, how readings become rows, its typical query."""

    table: str
    title: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    new_kind_without_migration: bool
    rows: Callable[[Reading], Iterator[Row]]
    value: sql.Composable  # the queried metric's value as an expression
    extra_filter: sql.Composable  # narrowing beyond device and time, if any

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(SCHEMA, self.table)


@dataclass(frozen=True, slots=True)
class Result:
    layout: Layout
    rates: tuple[float, ...]  # data points per second COPYed, one per round
    table_bytes: int
    index_bytes: int
    query_ms: float  # median

    @property
    def points_per_s(self) -> float:
        return statistics.median(self.rates)


def _narrow_rows(r: Reading) -> Iterator[Row]:
    for metric, value in r[2].items():
        yield (r[0], r[1], metric, value)


def _jsonb_rows(r: Reading) -> Iterator[Row]:
    yield (r[0], r[1], Jsonb(r[2]))


def _column_rows(r: Reading) -> Iterator[Row]:
    yield (r[0], r[1], *(r[2].get(m) for m in METRICS))


_TS_DEVICE = (("ts", "timestamptz NOT NULL"), ("device_id", "text NOT NULL"))
LAYOUTS = (
    Layout("narrow", "narrow: row per metric (current)",
           (*_TS_DEVICE, ("metric", "text NOT NULL"), ("value", "double precision NOT NULL")),
           ("device_id", "metric", "ts"), True, _narrow_rows,
           sql.Identifier("value"), sql.SQL("AND metric = %(metric)s")),
    Layout("wide_jsonb", "wide: row per reading, jsonb values",
           (*_TS_DEVICE, ("values", "jsonb NOT NULL")),
           ("device_id", "ts"), True, _jsonb_rows,
           sql.SQL("({} -> %(metric)s)::float8").format(sql.Identifier("values")), sql.SQL("")),
    Layout("wide_columns", "wide: row per reading, a column per metric",
           (*_TS_DEVICE, *((m, "double precision") for m in METRICS)),
           ("device_id", "ts"), False, _column_rows,
           sql.Identifier(QUERY_METRIC), sql.SQL("")),
)


def make_readings(count: int, devices: int, seed: int = 1) -> list[Reading]:
    """*count* readings, one a minute per device, in the time order ingest sees them."""
    rng = random.Random(seed)
    ids = [f"aq-{i:05d}" for i in range(devices)]
    out: list[Reading] = []
    for n in range(count):
        ts = START + timedelta(minutes=n // devices)
        out.append((ts, ids[n % devices], {
            m: round(rng.uniform(lo, hi), digits) for m, (lo, hi, digits) in METRICS.items()
        }))
    return out


def _create(conn: Conn, layout: Layout, days: Sequence[datetime]) -> None:
    # The same shape as the plain migration: daily range partitions, the unique key, BRIN on ts.
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))  # kinds are constants above
        for name, kind in layout.columns
    )
    key = sql.SQL(", ").join(map(sql.Identifier, layout.key))
    conn.execute(sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({})) PARTITION BY RANGE (ts)").format(
        layout.ident, columns, key))
    conn.execute(sql.SQL("CREATE INDEX ON {} USING brin (ts)").format(layout.ident))
    for day in days:
        conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(SCHEMA, f"{layout.table}_p{day:%Y%m%d}"), layout.ident,
            sql.Literal(day), sql.Literal(day + DAY)))


def _copy_batches(conn: Conn, layout: Layout, batches: Sequence[Sequence[Row]]) -> float:
    """COPY each batch in its own transaction, as ingest does; return the seconds taken."""
    names = [name for name, _ in layout.columns]
    types = [kind.removesuffix(" NOT NULL") for _, kind in layout.columns]  # COPY wants the type
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        layout.ident, sql.SQL(", ").join(map(sql.Identifier, names)))
    started = time.perf_counter()
    for batch in batches:
        with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(types)
            for row in batch:
                copy.write_row(row)
    return time.perf_counter() - started


def _sizes(conn: Conn, layout: Layout) -> tuple[int, int]:
    row = conn.execute(
        "SELECT sum(pg_table_size(relid)), sum(pg_indexes_size(relid)) "
        "FROM pg_partition_tree(%s::regclass)",
        (f"{SCHEMA}.{layout.table}",),
    ).fetchone()
    assert row is not None
    return int(row[0] or 0), int(row[1] or 0)  # type: ignore[call-overload]


def _query_ms(conn: Conn, layout: Layout, devices: Sequence[str]) -> float:
    query = sql.SQL("SELECT {} AS bucket, avg({}) FROM {} WHERE {} {} GROUP BY 1 ORDER BY 1").format(
        _BIN, layout.value, layout.ident, _WHERE, layout.extra_filter)
    timings: list[float] = []
    for i, device in enumerate(devices):
        params = {"device": device, "metric": QUERY_METRIC, "lo": START, "hi": START + DAY}
        started = time.perf_counter()
        rows = conn.execute(query, params).fetchall()
        if i > 0:  # the first run only warms the cache
            timings.append(time.perf_counter() - started)
        if not rows:
            raise RuntimeError(f"The query on {layout.table} found no data; the bench is broken.")
    return statistics.median(timings) * 1000


def _checkpoint(conn: Conn) -> None:
    # Flushing the previous layout's dirty pages keeps them from slowing the next COPY.
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("CHECKPOINT")


def _measure_once(conn: Conn, layout: Layout, days: Sequence[datetime],
                  batches: Sequence[Sequence[Row]], points: int, sample: Sequence[str]) -> Result:
    _create(conn, layout, days)
    try:
        _checkpoint(conn)
        seconds = _copy_batches(conn, layout, batches)
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(layout.ident))
        table_bytes, index_bytes = _sizes(conn, layout)
        return Result(layout, (points / seconds,), table_bytes, index_bytes,
                      _query_ms(conn, layout, sample))
    finally:
        conn.execute(sql.SQL("DROP TABLE {}").format(layout.ident))


def measure(url: str, readings: Sequence[Reading], batch_points: int, queries: int,
            layouts: Sequence[Layout], rounds: int) -> list[Result]:
    """The median of *rounds* runs of each layout (sizes are the same in every run)."""
    days = sorted({datetime.combine(r[0].date(), datetime.min.time(), UTC) for r in readings})
    devices = sorted({r[1] for r in readings})
    sample = random.Random(2).choices(devices, k=queries + 1)
    per_batch = max(1, batch_points // len(METRICS))
    points = len(readings) * len(METRICS)
    batches = {layout.table: [[row for r in readings[i:i + per_batch] for row in layout.rows(r)]
                              for i in range(0, len(readings), per_batch)]
               for layout in layouts}
    runs: dict[str, list[Result]] = {layout.table: [] for layout in layouts}
    with connect(url, autocommit=True, application_name="cityhub-bench") as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        # Rounds interleave the layouts, so a machine that speeds up or slows down during
        # the run affects them alike.
        for _ in range(rounds):
            for layout in layouts:
                runs[layout.table].append(
                    _measure_once(conn, layout, days, batches[layout.table], points, sample))
    return [
        replace(runs[layout.table][0],
                rates=tuple(r.rates[0] for r in runs[layout.table]),
                query_ms=statistics.median(r.query_ms for r in runs[layout.table]))
        for layout in layouts
    ]


def _rate(r: Result) -> str:
    return f"{r.points_per_s:,.0f} ({min(r.rates):,.0f}–{max(r.rates):,.0f})"


def render_section(results: Sequence[Result], points: int, devices: int, batch_points: int,
                   queries: int, rounds: int, server_version: str) -> str:
    """The markdown of the "Storage layout" section for these results."""
    lines = [
        HEADING, "",
        f"`cityhub bench storage --readings {points} --devices {devices}` on {date.today()}: "
        f"PostgreSQL {server_version}, {os.cpu_count()} cores ({platform.machine()}), client "
        "and server on the same machine. The same air-quality readings (8 metrics each, one a "
        f"minute per device) are COPYed in binary into each layout in batches of {batch_points} "
        "data points, one transaction each, as ingest writes. Every layout is partitioned by day "
        "with its unique key and a BRIN index on `ts`; sizes are heap plus indexes after VACUUM. "
        "The query is one device, one metric, one day, 1-minute averages via `date_bin`, on a "
        f"warm cache. Each layout ran {rounds} times, interleaved: the COPY rate is the median "
        "(lowest–highest); the query time is the median over the rounds of the median of "
        f"{queries} runs.", "",
        "| layout | new kind without a migration | data points/s | bytes per data point "
        "(table + index) | total size | query (ms) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        total = r.table_bytes + r.index_bytes
        lines.append(
            f"| {r.layout.title} | {'yes' if r.layout.new_kind_without_migration else 'no'} "
            f"| {_rate(r)} | {total / points:.1f} ({r.table_bytes / points:.1f} + "
            f"{r.index_bytes / points:.1f}) | {total / 2**20:.1f} MiB | {r.query_ms:.2f} |")
    return "\n".join(lines) + "\n"


def _print(results: Sequence[Result], points: int) -> None:
    table = Table("layout", "new kind w/o migration", "data points/s", "bytes/point",
                  "size", "query ms", title=f"Storage layout, {points:,} data points")
    for r in results:
        total = r.table_bytes + r.index_bytes
        table.add_row(r.layout.table, "yes" if r.layout.new_kind_without_migration else "no",
                      _rate(r), f"{total / points:.1f}",
                      f"{total / 2**20:.1f} MiB", f"{r.query_ms:.2f}")
    Console(highlight=False).print(table)


def bench_storage(
    readings: Annotated[int, typer.Option(
        min=8, help="Data points written into each layout (an air-quality reading holds 8).")]
    = 1_000_000,
    devices: Annotated[int, typer.Option(min=1, help="Air-quality stations sending them.")] = 50,
    batch: Annotated[int, typer.Option(min=8, help="Data points per COPY transaction.")] = 2000,
    queries: Annotated[int, typer.Option(min=1, help="Timed runs of the typical query.")] = 50,
    rounds: Annotated[int, typer.Option(min=1, help="Runs of each layout; medians are shown.")] = 3,
    wide_columns: Annotated[bool, typer.Option(
        help="Also measure a column per metric (needs a migration per kind).")] = True,
    doc: Annotated[Path, typer.Option(help="Markdown file whose Storage layout section to replace.")]
    = Path("docs/benchmarks.md"),
    write: Annotated[bool, typer.Option(help="Write the figures into --doc.")] = True,
) -> None:
    """Compare the telemetry table layouts: COPY rate, size on disk, a typical query."""
    server = load_settings().database_url or DEFAULT_SERVER
    layouts = [layout for layout in LAYOUTS if wide_columns or layout.new_kind_without_migration]
    data = make_readings(-(-readings // len(METRICS)), devices)
    points = len(data) * len(METRICS)
    with connect(server, autocommit=True, application_name="cityhub-bench") as admin:
        row = admin.execute("SHOW server_version").fetchone()
        version = str(row[0]).split()[0] if row else "unknown"
    with scratch_database(server, "cityhub_bench") as url:
        results = measure(url, data, batch, queries, layouts, rounds)
    _print(results, points)
    if write:
        section = render_section(results, points, devices, batch, queries, rounds, version)
        doc.parent.mkdir(parents=True, exist_ok=True)
        # Re-read just before writing: other benchmarks own other sections of the same file.
        current = doc.read_text(encoding="utf-8") if doc.exists() else ""
        doc.write_text(doc_sections.replace_section(current, section, HEADING), encoding="utf-8")
        Console(highlight=False).print(f"wrote the Storage layout section of {doc}")
