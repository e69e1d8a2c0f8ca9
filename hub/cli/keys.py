"""`cityhub keys …`: the pseudonymisation key file (docs/privacy.md, "Keys and rotation")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import console, settings
from hub.pseudonym import ensure_keys, load_keys, parse_age, rotate_if_older, rotate_keys

app = typer.Typer(no_args_is_help=True, help="Manage the pseudonymisation key file.")


@app.command("init")
def init() -> None:
    """Create the key file (CITYHUB_PSEUDONYM_KEY_FILE) if it does not exist."""
    path = settings().key_file
    keys = ensure_keys(path)
    console.print(f"{path}: key version {keys.current}")


@app.command("rotate")
def rotate(
    if_older_than: Annotated[str | None, typer.Option(
        "--if-older-than", metavar="AGE",
        help="Rotate only when the current key is at least this old (90d, 12w, 36h); "
             "for a timer that runs daily.")] = None,
) -> None:
    """Add a new key version; new pseudonyms use it, old versions are kept."""
    path = settings().key_file
    if if_older_than is None:
        keys, rotated = rotate_keys(path), True
    else:
        keys, rotated = rotate_if_older(path, parse_age(if_older_than))
    if rotated:
        console.print(f"{path}: now key version {keys.current}; restart ingest to use it")
    else:
        made = keys.created[keys.current].date().isoformat()
        console.print(f"{path}: key version {keys.current} of {made} is younger than "
                      f"{if_older_than}; kept")


@app.command("list")
def list_keys() -> None:
    """The key versions and when each was made (never the keys themselves)."""
    path = settings().key_file
    keys = load_keys(path)
    now = datetime.now(UTC)
    table = Table("version", "created (UTC)", "age (days)", "current", title=str(path))
    for version in sorted(keys.keys):
        made = keys.created.get(version)
        table.add_row(str(version), made.isoformat(timespec="seconds") if made else "unknown",
                      str((now - made).days) if made else "", "yes" if version == keys.current else "")
    console.print(table)
