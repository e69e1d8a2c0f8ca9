"""`cityhub audit verify` and `cityhub audit show`: the hash-chained audit log."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub import audit
from hub.cli.common import console, database_url, errors, print_json, settings
from hub.db import connection

app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")


@app.command("verify")
def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check the whole hash chain; exit 1 and name the first bad row if it was tampered with."""
    with connection(database_url(settings())) as conn:
        result = audit.verify(conn)
    if as_json:
        print_json({"ok": result.ok, "rows": result.count, "row_id": result.row_id,
                    "problem": result.problem, "message": result.message})
    elif result.ok:
        console.print(f"[green]{result.message}[/green]")
    else:
        errors.print(f"[red]audit log FAILED verification:[/red] {result.message} "
                     f"({result.count} rows verified before it)")
    if not result.ok:
        raise typer.Exit(1)


@app.command("show")
def show_command(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 50,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. auth.login.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show the newest audit rows."""
    with connection(database_url(settings())) as conn:
        rows = audit.recent(conn, limit=limit, actor=actor, action=action)
    if as_json:
        for e in rows:
            print_json({"id": e.id, "ts": e.ts.isoformat(), "actor": e.actor, "action": e.action,
                        "target": e.target, "details": e.details_dict(), "hash": e.hash})
        return
    table = Table("id", "time", "actor", "action", "target", "details")
    for e in rows:
        table.add_row(str(e.id), e.ts.isoformat(timespec="seconds"), e.actor, e.action, e.target, e.details)
    console.print(table)
