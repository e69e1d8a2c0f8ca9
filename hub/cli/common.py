"""What every command needs: settings, the database URL, printing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from hub.device_tokens import TokenKeys, demo_key, parse_keys
from hub.errors import ConfigError
from hub.settings import Settings, load_settings

if TYPE_CHECKING:
    from hub.embedded import EmbeddedBroker

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


def token_keys(current: Settings) -> TokenKeys | None:
    """CITYHUB_DEVICE_TOKEN_KEY's keys, or the demo's key of a running `cityhub up`; None
    (tokens hashed with argon2, slowly) when neither is there, with a note saying so."""
    keys = current.device_token_keys()
    if keys is not None:
        return keys
    if "database_url" in running_services(current) and current.database_url is None:
        # The demo's database: its services check tokens under the demo's key.
        return parse_keys(demo_key(current.state_dir))
    errors.print("note: CITYHUB_DEVICE_TOKEN_KEY is not set, so device tokens are hashed with "
                  "argon2 (about 0.1 s each); see docs/devices.md, \"How tokens are stored\".")
    return None


def write_running(state_dir: Path, *, database_url: str, mqtt_url: str,
                  broker: EmbeddedBroker | None = None, **extra: object) -> None:
    """What a running `cityhub up` tells other commands: its database, its broker, and
    where the embedded broker's logins live (so device changes reach it). Read by
    running_services and running_broker."""
    running: dict[str, object] = {"database_url": database_url, "mqtt_url": mqtt_url, **extra}
    if broker is not None:
        running |= {"broker_dir": str(broker.data_dir), "broker_pid_file": str(broker.pid_file)}
    (state_dir / RUNNING_FILE).write_text(json.dumps(running), encoding="utf-8")


def running_broker(current: Settings) -> tuple[Path, Path | None] | None:
    """The directory of the broker files of a running `cityhub up`, and the pid file to
    signal after changing them; None when no embedded broker runs."""
    running = running_services(current)
    directory, pid_file = running.get("broker_dir"), running.get("broker_pid_file")
    if not isinstance(directory, str):
        return None
    return Path(directory), Path(pid_file) if isinstance(pid_file, str) and pid_file else None


def running_services(current: Settings) -> dict[str, Any]:
    path = current.state_dir / RUNNING_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, default=str, ensure_ascii=False) + "\n")
