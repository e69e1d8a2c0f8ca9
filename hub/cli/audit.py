"""`cityhub audit verify`, `checkpoint`, `show` and `key`: the hash-chained audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub import audit, audit_keys
from hub import audit_checkpoints as checkpoints
from hub.cli.common import console, database_url, errors, print_json, settings
from hub.db import connection

app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
key_app = typer.Typer(no_args_is_help=True, help="The audit chain's key file (kept outside the database).")
app.add_typer(key_app, name="key")


FileOption = Annotated[Path | None, typer.Option(
    "--file", help="The checkpoint file (default: CITYHUB_AUDIT_CHECKPOINT_FILE, else the state directory).")]


@app.command("verify")
def verify_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    file: FileOption = None,
) -> None:
    """Check the whole hash chain and every signed checkpoint; exit 1 and name the first bad row."""
    current = settings()
    path = file or checkpoints.checkpoint_file(current)
    key = checkpoints.checkpoint_key(current) if path.exists() else None
    with connection(database_url(current)) as conn:
        result, check = checkpoints.verify(conn, path, key)
    ok = result.ok and (check is None or check.ok)
    if as_json:
        print_json({"ok": ok, "rows": result.count, "row_id": result.row_id,
                    "problem": result.problem, "message": result.message,
                    "unkeyed_until": result.public_until,
                    "checkpoint_file": str(path), "checkpoints": None if check is None else {
                        "ok": check.ok, "checked": check.checked, "seq": check.seq,
                        "problem": check.problem, "message": check.message}})
    elif result.ok and check is not None and check.problem in ("rewritten", "truncated"):
        # Consistent in itself but not what was signed: a rewrite, not an intact chain.
        errors.print(f"[red]audit log FAILED verification:[/red] its {result.count} rows are "
                     "consistent with each other but not with the signed checkpoints (rewritten)")
    elif result.ok:
        console.print(f"[green]{result.message}[/green]")
    else:
        errors.print(f"[red]audit log FAILED verification:[/red] {result.message} "
                     f"({result.count} rows verified before it)")
    if not as_json:
        _public_note(result, check)
        if check is None:
            console.print(f"[yellow]no checkpoint file at {path}: only the chain's internal "
                          "consistency was checked[/yellow] (a rewrite that recomputes every hash "
                          "passes that; see `cityhub audit checkpoint`)")
        elif check.ok:
            console.print(f"[green]{check.message}[/green] ({path})")
        else:
            errors.print(f"[red]audit checkpoints FAILED:[/red] {check.message} ({path})")
    if not ok:
        raise typer.Exit(1)


def _public_note(result: audit.Verification, check: checkpoints.CheckpointCheck | None) -> None:
    covered = check is not None and check.ok and check.newest >= result.public_until
    if result.public_until and not covered:
        console.print(f"[yellow]rows 1..{result.public_until} were written before the chain was "
                      "keyed (public rule) and no signed checkpoint covers them yet: run `cityhub "
                      "audit checkpoint`[/yellow]")


@app.command("checkpoint")
def checkpoint_command(file: FileOption = None) -> None:
    """Verify the chain, then append a signed checkpoint of its head to a file outside the database."""
    current = settings()
    path = file or checkpoints.checkpoint_file(current)
    key = checkpoints.checkpoint_key(current)
    with connection(database_url(current)) as conn:
        point = checkpoints.checkpoint(conn, path, key)
    console.print(f"checkpoint: row {point.seq} hash {point.hash[:16]}… at {point.at} → {path}")


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


@key_app.command("init")
def key_init() -> None:
    """Create the key file (CITYHUB_AUDIT_KEY_FILE) if it does not exist; copy it to every host."""
    path = audit_keys.key_file(settings())
    keys = audit_keys.ensure(path)
    console.print(f"{path}: audit key version {keys.current}")


@key_app.command("rotate")
def key_rotate() -> None:
    """Add a key version and make it current; rows keep verifying under the version they name."""
    path = audit_keys.key_file(settings())
    keys = audit_keys.rotate(path)
    console.print(f"{path}: now audit key version {keys.current}; copy the file to every host "
                  "that appends to the log (running services pick it up on their next append)")
