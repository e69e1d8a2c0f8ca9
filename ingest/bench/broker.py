"""A throw-away Mosquitto for one trial: loopback only, nothing persisted, nothing dropped."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import TracebackType

from hub.embedded import free_port, mosquitto_binary, wait_for_port
from ingest.bench.errors import BenchError
from ingest.bench.processes import Child

START_TIMEOUT_S = 20.0


def mosquitto_config(port: int) -> str:
    return (
        "# Written by `cityhub bench ingest` for one trial.\n"
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        # 0 is "no maximum" (mosquitto.conf(5)). Ingest acknowledges only after commit,
        # so a bounded queue would silently drop the backlog and read as lost messages.
        "max_queued_messages 0\n"
        "max_inflight_messages 0\n"
    )


def mosquitto_version(binary: str) -> str:
    """The version ``mosquitto -h`` names on its first line, or an empty string."""
    try:
        result = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    first = (result.stdout or result.stderr).splitlines()[:1]
    return first[0].rsplit(" ", 1)[-1] if first else ""


class ThrowawayBroker:
    def __init__(self, directory: Path) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise BenchError("Mosquitto is not installed; `make services` installs it.")
        self.binary = binary
        self.directory = directory
        self.port = 0
        self._child: Child | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.directory / "mosquitto.conf"
        config.write_text(mosquitto_config(self.port), encoding="utf-8")
        self._child = Child("mosquitto", [self.binary, "-c", str(config)],
                            self.directory / "mosquitto.log")
        if not wait_for_port(self.port, START_TIMEOUT_S):
            tail = self._child.log_tail()
            self.stop()
            raise BenchError(f"Mosquitto did not listen on port {self.port}: {tail}")

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None

    def __enter__(self) -> ThrowawayBroker:
        self.start()
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.stop()
