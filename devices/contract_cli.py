"""`cityhub contract write|check`: keep the AsyncAPI document and JSON Schemas in step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devices.contract import ContractError
from devices.contract_files import contract_root, drift, generate, write
from hub.catalogue import load_catalogue

app = typer.Typer(no_args_is_help=True,
                  help="The device contract: AsyncAPI document and JSON Schemas per kind.")

_Root = Annotated[Path | None, typer.Option(
    "--dir", help="Folder holding asyncapi.yaml and schemas/ (default: the installed devices package).")]
_Kinds = Annotated[Path | None, typer.Option(
    "--kinds", help="Kind catalogue to build from (default: the one shipped with cityhub).")]


@app.command("write")
def write_command(root: _Root = None, kinds: _Kinds = None) -> None:
    """Regenerate asyncapi.yaml and schemas/*.json from the kind catalogue."""
    folder = root or contract_root()
    changed = write(folder, generate(load_catalogue(kinds)))
    for name in changed:
        typer.echo(f"wrote {folder / name}")
    typer.echo(f"{len(changed)} file(s) changed" if changed else "the contract is up to date")


@app.command("check")
def check_command(root: _Root = None, kinds: _Kinds = None) -> None:
    """Fail when the committed contract differs from what the catalogue generates."""
    folder = root or contract_root()
    changed = drift(folder, generate(load_catalogue(kinds)))
    if changed:
        raise ContractError(
            f"The device contract under {folder} is out of date ({', '.join(changed)}); "
            "run `cityhub contract write`."
        )
    typer.echo("the contract matches the catalogue")
