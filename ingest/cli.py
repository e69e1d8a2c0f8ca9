"""`cityhub ingest`: run the service, list rejected messages, replay them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from hub.catalogue import load_catalogue
from hub.cli.common import console, database_url, print_json, service_settings, settings
from hub.db import connection
from hub.deadletters import list_dead_letters
from hub.pseudonym import load_keys
from ingest.pipeline import Planner
from ingest.replay import pending_count, replay
from ingest.runner import run_ingest
from ingest.validate import Validator
from ingest.workers import MAX_WORKERS, run_workers

app = typer.Typer(help="The MQTT ingest service and its dead letters.")


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(
        min=1, max=MAX_WORKERS,
        help="Worker processes sharing the stream (one core each); see docs/ingest.md.")] = 1,
) -> None:
    """Run the ingest service (until Ctrl-C or SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return
    if workers == 1:
        run_ingest(service_settings())
        return
    code = run_workers(service_settings(), workers)
    if code:
        raise typer.Exit(code)


@app.command("rejects")
def rejects(
    device: Annotated[str | None, typer.Option(help="Only this device.")] = None,
    include_replayed: Annotated[bool, typer.Option("--all", help="Include replayed ones.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List rejected messages with their reasons, oldest first."""
    with connection(database_url(settings())) as conn:
        letters = list_dead_letters(
            conn, pending_only=not include_replayed, device_id=device, limit=limit
        )
    if as_json:
        for d in letters:
            print_json({
                "id": d.id, "received_at": d.received_at.isoformat(), "topic": d.topic,
                "device_id": d.device_id, "reason_code": d.reason_code, "reason": d.reason,
                "payload": d.payload.decode("utf-8", "replace"),
                "replayed_at": d.replayed_at.isoformat() if d.replayed_at else None,
                "replay_result": d.replay_result,
            })
        return
    table = Table("id", "received", "topic", "code", "reason")
    for d in letters:
        table.add_row(str(d.id), d.received_at.isoformat(timespec="seconds"), d.topic,
                      d.reason_code, d.reason)
    console.print(table)
    console.print(f"{len(letters)} rejected message(s) shown")


@app.command("replay")
def replay_command(
    device: Annotated[str | None, typer.Option(help="Only this device's dead letters.")] = None,
) -> None:
    """Re-process pending dead letters, e.g. after registering the missing device."""
    current = settings()
    url = database_url(current)
    catalogue = load_catalogue(current.kinds_file)
    keys = load_keys(current.key_file)
    planner = Planner(Validator(catalogue, keys), catalogue.personal_fields, keys)
    total = pending_count(url)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying dead letters", total=total)
        report = replay(url, planner, device_id=device,
                        progress=lambda n: progress.advance(task, n))
    console.print(f"stored {report.stored}; still rejected {report.still_rejected}")
