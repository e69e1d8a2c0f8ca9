"""`cityhub bench analytics`: the analytics' speed (docs/benchmarks.md, "Analytics").

On a scratch database of the server (CITYHUB_DATABASE_URL, else the local one), migrated with
the built-in rules: the measurements of analytics/bench_measure.py, printed and written into
the "Analytics" section of docs/benchmarks.md.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import psutil
import psycopg
import typer
from rich.console import Console
from rich.table import Table

from analytics import bench_measure as m
from hub import doc_sections
from hub.bench.database import DEFAULT_SERVER
from hub.catalogue import load_catalogue
from hub.scratch import scratch_database
from hub.settings import load_settings

HEADING = "## Analytics"
METER_TARGET_S = 60.0


def render(figures: list[m.Figure], version: str) -> str:
    lines = [HEADING, "",
             f"`cityhub bench analytics` on {datetime.now(UTC):%Y-%m-%d}: PostgreSQL {version}, "
             f"{psutil.cpu_count()} cores, Python {platform.python_version()}, one process. Generated "
             "data (analytics/bench_measure.py); the rules are the built-in set of the migrations.",
             f"The issue's target for the meter model is under {METER_TARGET_S:.0f} s for training and "
             "scoring 10,000 meters × 30 days together (`--meters 10000`); its training grows "
             "linearly with the meters, so a smaller run gives the figure by multiplication.", "",
             "| measure | figure | what |", "|---|---:|---|"]
    lines += [f"| {f.name} | {f.value} | {f.detail} |" for f in figures]
    return "\n".join(lines) + "\n"


def bench_analytics(
    stations: Annotated[int, typer.Option(min=10, help="Stations of the live-stream measures.")] = 1000,
    stream_minutes: Annotated[int, typer.Option(min=1, help="Minutes of their readings.")] = 10,
    latency_samples: Annotated[int, typer.Option(min=1, help="Readings timed to their alert.")] = 50,
    meters: Annotated[int, typer.Option(min=10, help="Smart meters of the model measure.")] = 10_000,
    meter_days: Annotated[int, typer.Option(min=2, help="Days of their history.")] = 30,
    backtest_stations: Annotated[int, typer.Option(min=10, help="Stations of the backtest.")] = 1000,
    backtest_days: Annotated[int, typer.Option(min=1, help="Days of the backtest.")] = 30,
    backtest_step_s: Annotated[int, typer.Option(min=60, help="Seconds between two readings.")] = 900,
    doc: Annotated[Path, typer.Option(help="Markdown file whose Analytics section to replace.")]
    = Path("docs/benchmarks.md"),
    write: Annotated[bool, typer.Option(help="Write the figures into --doc.")] = True,
) -> None:
    """Rule evaluations per second, alert latency, meter model training and scoring, a backtest."""
    out = Console(highlight=False)
    server = load_settings().database_url or DEFAULT_SERVER
    with psycopg.connect(server, autocommit=True) as admin:
        row = admin.execute("SHOW server_version").fetchone()
        version = str(row[0]).split()[0] if row else "unknown"
    catalogue = load_catalogue()
    intervals = {name: float(k.interval_s) for name, k in catalogue.kinds.items()}
    figures: list[m.Figure] = []

    def note(figure: m.Figure) -> None:
        figures.append(figure)
        out.print(f"{figure.name}: [bold]{figure.value}[/bold] — {figure.detail}")

    with scratch_database(server, "cityhub_bench_analytics", catalogue) as url:
        rules = m.rules_of(url)
        rows = m.station_rows(m.stations(stations), m.START, stream_minutes)
        note(m.rule_throughput(rules, intervals, rows))
        note(m.live_throughput(url, catalogue, rows))
        del rows
        note(m.alert_latency(url, catalogue, latency_samples))
    for figure in m.meter_model(meters, meter_days):
        note(figure)
    advisory = next(r for r in rules if r.spec.id == "pm25-fine-dust")
    note(m.backtest_month(advisory, intervals, backtest_stations, backtest_days, backtest_step_s))
    table = Table(title="cityhub bench analytics")
    for heading in ("measure", "figure", "what"):
        table.add_column(heading)
    for f in figures:
        table.add_row(f.name, f.value, f.detail)
    out.print(table)
    if write:
        current = doc.read_text(encoding="utf-8") if doc.exists() else ""
        doc.write_text(doc_sections.replace_section(current, render(figures, version), HEADING),
                       encoding="utf-8")
        out.print(f"wrote the Analytics section of {doc}")
