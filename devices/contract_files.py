"""The contract as files: what `cityhub contract write` writes and `check` compares."""

from __future__ import annotations

from pathlib import Path

from devices.contract import ContractError, dump_json, kind_schemas
from devices.contract_asyncapi import asyncapi_document, dump_yaml
from hub.catalogue import Catalogue

ASYNCAPI_FILE = "asyncapi.yaml"
SCHEMA_DIR = "schemas"


def contract_root() -> Path:
    """The folder of the committed contract: this package's own folder."""
    return Path(__file__).resolve().parent


def generate(catalogue: Catalogue) -> dict[str, str]:
    """Relative path -> file text, for every generated contract file."""
    files = {f"{SCHEMA_DIR}/{name}": dump_json(schema)
             for name, schema in kind_schemas(catalogue).items()}
    files[ASYNCAPI_FILE] = dump_yaml(asyncapi_document(catalogue))
    return files


def drift(root: Path, files: dict[str, str]) -> list[str]:
    """Relative paths that are missing, different, or left over from a removed kind."""
    changed = [name for name, text in files.items()
               if not (root / name).is_file() or (root / name).read_text(encoding="utf-8") != text]
    schema_dir = root / SCHEMA_DIR
    if schema_dir.is_dir():
        changed += sorted(f"{SCHEMA_DIR}/{p.name}" for p in schema_dir.glob("*.json")
                          if f"{SCHEMA_DIR}/{p.name}" not in files)
    return changed


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Write what changed and remove schemas of kinds no longer in the catalogue."""
    changed = drift(root, files)
    try:
        (root / SCHEMA_DIR).mkdir(parents=True, exist_ok=True)
        for name in changed:
            path = root / name
            if name in files:
                path.write_text(files[name], encoding="utf-8")
            else:
                path.unlink()
    except OSError as exc:
        raise ContractError(f"Cannot write the contract under {root}: {exc.strerror}.") from exc
    return changed
