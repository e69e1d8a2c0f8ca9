"""What every command needs: settings, the database URL, printing."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from hub.errors import ConfigError
from hub.settings import Settings, load_settings

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)

RUNNING_FILE = "running.json"


def settings() -> Settings:
    return load_settings()


def service_settings() -> Settings:
    """Settings for a long-running service: the database URL resolved once, at start."""
    current = settings()
    if current.database_url is None:
        current = current.model_copy(update={"database_url": database_url(current)})
    return current


def database_url(current: Settings) -> str:
    """CITYHUB_DATABASE_URL, or the embedded database of a running `cityhub up`."""
    if current.database_url:
        return current.database_url
    running = running_services(current)
    url = running.get("database_url")
    if isinstance(url, str):
        return url
    raise ConfigError(
        "CITYHUB_DATABASE_URL is not set and no `cityhub up` is running; set it to "
        "postgresql://user@host:5432/db, or start `cityhub up` in another terminal."
    )


def running_services(current: Settings) -> dict[str, Any]:
    path = current.state_dir / RUNNING_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, default=str, ensure_ascii=False) + "\n")
