"""A private Mosquitto the scenarios may kill, restart on the same port, and limit.

Anonymous, on 127.0.0.1. With *persistence* it keeps its sessions and queued messages
in a file written every *autosave_interval* seconds, at shutdown, and on SIGUSR1
(mosquitto(8)); a SIGKILL loses what changed since the last write.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hub.embedded import free_port, mosquitto_binary, mosquitto_owner, wait_for_port
from ingest.chaos.errors import ChaosError, Unsupported
from ingest.chaos.waiting import wait_until


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    persistence: bool = False
    autosave_interval: int = 1800  # Mosquitto's default
    autosave_on_changes: bool = False  # the interval counts changes, not seconds
    max_queued_messages: int = 0  # 0: no limit
    max_inflight_messages: int = 0  # 0: no limit; ingest's Receive Maximum bounds it


class PrivateBroker:
    def __init__(self, directory: Path, limits: BrokerLimits) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise Unsupported("Mosquitto is not installed (scripts/install-mosquitto)")
        self.binary = binary
        self.directory = directory
        self.limits = limits
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        self.store = directory / "store"
        self.store.mkdir(exist_ok=True)
        owner = mosquitto_owner()
        if owner is not None:
            os.chown(self.store, *owner)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def database_file(self) -> Path:
        return self.store / "mosquitto.db"

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    def _config(self) -> Path:
        limits = self.limits
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"persistence {'true' if limits.persistence else 'false'}\n"
            f"persistence_location {self.store}/\n"
            f"autosave_interval {limits.autosave_interval}\n"
            f"autosave_on_changes {'true' if limits.autosave_on_changes else 'false'}\n"
            f"max_queued_messages {limits.max_queued_messages}\n"
            f"max_inflight_messages {limits.max_inflight_messages}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            "log_timestamp_format %Y-%m-%dT%H:%M:%S\n",
            encoding="utf-8",
        )
        return config

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start (again, on the same port and with the same store)."""
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen([self.binary, "-c", str(self._config())],
                                             stdout=log_file, stderr=subprocess.STDOUT)
        if not wait_for_port(self.port, 20):
            self.stop()
            raise ChaosError(f"Mosquitto did not listen on port {self.port}: "
                             f"{self.log_path.read_text(errors='replace')[-1000:]}")

    def kill(self) -> None:
        """SIGKILL: no last save of the store."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(15)

    def save(self, timeout: float = 15.0) -> None:
        """Have the broker write its store now (SIGUSR1) and wait until it has."""
        if self._process is None:
            raise ChaosError("the broker is not running")
        before = self._stamp()
        self._process.send_signal(signal.SIGUSR1)
        wait_until(lambda: self._stamp() != before, timeout, "the broker to save its store")

    def _stamp(self) -> int:
        try:
            return self.database_file.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)

    def saves(self) -> int:
        """How often the broker logged saving its store."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return text.count("Saving in-memory database")

    def dropped_warnings(self) -> int:
        """How often the broker logged that it dropped messages for a client."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return text.count("are being dropped")
