"""`cityhub keys …`: the pseudonymisation key file."""

from __future__ import annotations

import typer

from hub.cli.common import console, settings
from hub.pseudonym import ensure_keys, rotate_keys

app = typer.Typer(no_args_is_help=True, help="Manage the pseudonymisation key file.")


@app.command("init")
def init() -> None:
    """Create the key file (CITYHUB_PSEUDONYM_KEY_FILE) if it does not exist."""
    path = settings().key_file
    keys = ensure_keys(path)
    console.print(f"{path}: key version {keys.current}")


@app.command("rotate")
def rotate() -> None:
    """Add a new key version; new pseudonyms use it, old versions are kept."""
    path = settings().key_file
    keys = rotate_keys(path)
    console.print(f"{path}: now key version {keys.current}; restart ingest to use it")
