"""`cityhub migrate`: apply migrations, or show their status."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub.catalogue import load_catalogue
from hub.cli.common import console, database_url, settings
from hub.migrate import migrate, migration_status


def migrate_command(
    status: Annotated[bool, typer.Option("--status", help="Show applied versions and the profile.")] = False,
) -> None:
    """Apply pending schema migrations (idempotent), or show their status."""
    current = settings()
    url = database_url(current)
    if status:
        state = migration_status(url)
        console.print(f"storage profile: [bold]{state.profile or 'not migrated yet'}[/bold]")
        table = Table("version", "name", "applied at")
        for m in state.applied:
            table.add_row(m.version, m.name, m.applied_at.isoformat(timespec="seconds"))
        console.print(table)
        console.print(f"pending: {', '.join(state.pending) or 'none'}")
        return
    applied = migrate(url, load_catalogue(current.kinds_file), current.storage_profile)
    state = migration_status(url)
    if applied:
        console.print(f"applied {', '.join(applied)} ({state.profile} profile)")
    else:
        console.print(f"up to date ({state.profile} profile)")
