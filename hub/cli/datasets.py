"""`cityhub datasets list|show` (the catalogue) and `cityhub export` (rows to a file).

The catalogue is catalogue.json's datasets and those of the registered sources
(hub/datasets/sources.py, e.g. the anonymised releases), with coverage and row counts
from hub/datasets/stats.py: the same entries as ``GET /api/v1/datasets``. Like that route,
the commands read CITYHUB_REPLICA_DATABASE_URL when it is set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hub.cli.common import console, database_url, print_json, settings
from hub.datasets.catalogue import find_dataset
from hub.datasets.describe import entry
from hub.datasets.request import parse_rows_request
from hub.datasets.sources import catalogue_plan
from hub.datasets.stats import dataset_stats, run_sync
from hub.db import connection

app = typer.Typer(no_args_is_help=True, help="The open datasets for data scientists (catalogue).")
_SUFFIX_FORMATS = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow", ".arrows": "arrow",
                   ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _reads_url() -> str:
    """CITYHUB_REPLICA_DATABASE_URL when set: the data scientists' reads stay off the primary."""
    current = settings()
    return current.replica_database_url or database_url(current)


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document per dataset, a line each.")]
    = False,
) -> None:
    """Every dataset with its coverage and (estimated) row count."""
    with connection(_reads_url()) as conn:
        datasets = run_sync(conn, catalogue_plan())
        entries = [entry(d, run_sync(conn, dataset_stats(d))) for d in datasets.values()]
    if as_json:
        for e in entries:
            print_json(e)
        return
    table = Table("name", "title", "first", "last", "rows", "privacy")
    for e in entries:
        rows = e["rows"] if e["rows_exact"] else f"~{e['rows']}"
        table.add_row(e["name"], f"{e['title']['en']} / {e['title']['ko']}", e["coverage"]["first"] or "–",
                      e["coverage"]["last"] or "–", str(rows), e["privacy"])
    console.print(table)


@app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. air_quality.")],
    as_json: Annotated[bool, typer.Option("--json", help="The catalogue entry as JSON.")] = False,
) -> None:
    """One dataset: description, columns, coverage, licence, privacy and how to query it."""
    with connection(_reads_url()) as conn:
        dataset = find_dataset(run_sync(conn, catalogue_plan()), name)
        e = entry(dataset, run_sync(conn, dataset_stats(dataset)))
    if as_json:
        print_json(e)
        return
    console.print(f"[bold]{e['name']}[/bold] — {e['title']['en']} / {e['title']['ko']}")
    console.print(e["description"]["en"])
    console.print(e["description"]["ko"])
    columns = Table("column", "type", "unit", "description")
    for c in e["columns"]:
        columns.add_row(c["name"], c["type"], c["unit"] or "", c["description"])
    console.print(columns)
    if e["metrics"]:
        units = ", ".join(f"{m['name']} ({m['unit']})" for m in e["metrics"])
        console.print(f"[bold]metrics:[/bold] {units}")
    for label, value in (("coverage", f"{e['coverage']['first']} … {e['coverage']['last']}"),
                         ("rows", f"{'' if e['rows_exact'] else '~'}{e['rows']}"),
                         ("updated", e["update_frequency"]), ("licence", e["licence"]),
                         ("privacy", e["privacy"]), ("release", e["release"] or "–"),
                         ("filters", ", ".join(e["filters"])),
                         ("API", e["access"]["api"]), ("client", e["access"]["client"]),
                         ("SQL", e["access"]["sql"])):
        console.print(f"[bold]{label}:[/bold] {value}")


def export_command(
    dataset_name: Annotated[str, typer.Argument(metavar="DATASET", help="Dataset name, e.g. air_quality.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    start: Annotated[str | None, typer.Option("--from", help="ISO-8601 start (inclusive).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO-8601 end (exclusive); default now.")] = None,
    bucket: Annotated[str | None, typer.Option(help="1m, 15m, 1h or 1d.")] = None,
    agg: Annotated[str | None, typer.Option(help="With --bucket: avg,min,max,sum,count,last.")] = None,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="parquet, csv, arrow or jsonl; default "
                                            "from the file's suffix, else parquet.")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="Filter COLUMN=VALUE (repeatable).")]
    = None,
) -> None:
    """Write a dataset's rows (or buckets) to a file, straight from the database."""
    # pyarrow loads only here: every other command starts without it.
    from hub.datasets.export import estimate_rows, export_rows

    chosen = fmt or _SUFFIX_FORMATS.get(output.suffix.lower(), "parquet")
    params: dict[str, list[str]] = {"format": [chosen]}
    for key, value in (("from", start), ("to", end), ("bucket", bucket), ("agg", agg), ("columns", columns)):
        if value is not None:
            params[key] = [value]
    for item in where or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--where {item!r} is not COLUMN=VALUE.")
        params.setdefault(key.strip(), []).append(value)
    partial = output.with_name(output.name + ".partial")
    with connection(_reads_url()) as conn:
        dataset = find_dataset(run_sync(conn, catalogue_plan()), dataset_name)
        request = parse_rows_request(dataset, params, bound_text=False)
        estimate = estimate_rows(conn, request)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as progress:
            task = progress.add_task(f"{dataset.name} → {output.name}", total=max(estimate, 1))
            with partial.open("wb") as sink:
                total = export_rows(conn, _reads_url(), request, sink,
                                    lambda n: progress.advance(task, n))
            progress.update(task, total=max(total, 1), completed=total)
    os.replace(partial, output)
    console.print(f"wrote {total} row(s) of {dataset.name} to {output} ({chosen})")
