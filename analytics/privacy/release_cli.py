"""`cityhub privacy release|releases|verify|synth-meters` (docs/privacy.md, "Releases")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.table import Table

from analytics.privacy import records, release, verify
from analytics.privacy.cli import app
from analytics.privacy.errors import BadReleaseParams
from analytics.privacy.method import Period
from analytics.privacy.records import ReleaseRecord
from hub.cli.common import console, database_url, errors, print_json, settings
from hub.errors import DatabaseUnavailable
from hub.timeparse import BadTimestamp, parse_user_time


@contextmanager
def _connect() -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    try:
        conn = psycopg.connect(database_url(settings()), connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"Cannot reach the database: {str(exc).strip().splitlines()[0]}") from exc
    with conn:
        yield conn


def _time(value: str, option: str) -> datetime:
    try:
        return parse_user_time(value)
    except BadTimestamp as exc:
        raise BadReleaseParams(f"{option}: {exc}") from None


def as_document(record: ReleaseRecord) -> dict[str, Any]:
    """A release as JSON: the catalogue, the API and `--json` show the same."""
    doc = asdict(record)
    doc["columns"] = [{"name": n, "type": t} for n, t in record.columns]
    doc["relation"] = f"anon.{record.table}"
    doc["name"] = record.name
    text = json.dumps(doc, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))
    plain: dict[str, Any] = json.loads(text)
    return plain


@app.command("release")
def release_command(
    dataset: Annotated[str | None, typer.Argument(help="meter_load, meter_households, cctv_… .")] = None,
    params: Annotated[Path | None, typer.Option(
        "--params", help="YAML or JSON: purpose, recipients, processing_period_end, linkage_threshold, "
                         "parameters.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Input from (ISO-8601); default 7 days ago.")]
    = None,
    end: Annotated[str | None, typer.Option("--to", help="Input to, exclusive; default this hour.")] = None,
    expire: Annotated[bool, typer.Option("--expire", help="Delete releases whose period has ended.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Publish a new version of DATASET into anon, with its record; or --expire."""
    with _connect() as conn:
        if expire:
            for gone in release.expire(conn):
                console.print(f"deleted {gone.name}: its processing period ended {gone.period_end:%Y-%m-%d}")
        if dataset is None:
            if not expire:
                raise BadReleaseParams("Name a DATASET to release, or pass --expire.")
            return
        if params is None:
            raise BadReleaseParams("--params FILE is needed: the legal record (purpose, recipients, "
                                   "processing_period_end) comes from it.")
        request = release.load_request(params)
        period = release.default_period(datetime.now(UTC))
        period = Period(_time(start, "--from") if start else period.start,
                        _time(end, "--to") if end else period.end)
        record = release.make_release(conn, dataset, request, period, actor="cli")
    if as_json:
        print_json(as_document(record))
        return
    console.print(f"released [bold]anon.{record.table}[/bold] (view anon.{record.dataset}): "
                  f"{record.row_count} rows")
    for key, value in record.measures.items():
        console.print(f"  {key}: {value}")


@app.command("releases")
def releases_command(
    include_deleted: Annotated[bool, typer.Option("--all", help="Deleted releases too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document per line.")] = False,
) -> None:
    """The releases with their measures and legal record."""
    with _connect() as conn:
        found = records.list_releases(conn, include_deleted=include_deleted)
    if as_json:
        for record in found:
            print_json(as_document(record))
        return
    table = Table("release", "input", "rows", "k", "linkage", "purpose", "until", "deleted")
    for r in found:
        table.add_row(r.name, f"{r.input_start:%Y-%m-%d %H:%M} … {r.input_end:%Y-%m-%d %H:%M}",
                      str(r.row_count), str(r.measures.get("k", "")), f"{r.linkage_success:.2%}", r.purpose,
                      f"{r.period_end:%Y-%m-%d}", f"{r.deleted_at:%Y-%m-%d}" if r.deleted_at else "")
    console.print(table)


@app.command("verify")
def verify_command(
    name: Annotated[str, typer.Argument(help="dataset_vN, or a dataset for its latest release.")],
    scan: Annotated[bool, typer.Option("--scan/--no-scan", help="Scan the open schema too.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Recompute a release's privacy from the published table (pycanon) and the readings;
    exits 1 when a check fails."""
    with _connect() as conn:
        result = verify.verify(conn, name, scan=scan)
    if as_json:
        print_json({"release": result.release, "ok": result.ok, "checks": [asdict(c) for c in result.checks]})
    else:
        for check in result.checks:
            mark = "[green]ok[/green]" if check.ok else "[red]FAILED[/red]"
            console.print(f"{mark} {check.name}: {check.detail}")
    if not result.ok:
        errors.print(f"[red]{result.release} fails verification[/red]")
        raise typer.Exit(1)


@app.command("synth-meters")
def synth_meters_command(
    households: Annotated[int, typer.Option(help="How many households.")] = 2000,
    days: Annotated[int, typer.Option(help="Days of 15-minute readings, ending this hour.")] = 7,
    seed: Annotated[int, typer.Option(help="The same seed makes the same households.")] = 11,
) -> None:
    """Register synthetic household meters and COPY their readings (test and demo data)."""
    from analytics.privacy.synth_meters import make_meters, write_meters

    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    with _connect() as conn:
        written = write_meters(conn, make_meters(households, start, days, seed))
    console.print(f"{households} households, {written} readings from {start:%Y-%m-%d %H:%M} UTC")
