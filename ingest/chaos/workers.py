"""`cityhub ingest` as a child process, as operators run it, for the scenarios to kill."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from hub.embedded import free_port
from ingest.chaos.errors import ChaosError
from ingest.chaos.waiting import wait_until

START_TIMEOUT_S = 30.0


def worker_env(database_url: str, mqtt_url: str, key_file: Path, *, client_id: str,
               group: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env.update({
        "CITYHUB_DATABASE_URL": database_url,
        "CITYHUB_MQTT_URL": mqtt_url,
        "CITYHUB_SECRET_KEY": secrets.token_urlsafe(32),
        "CITYHUB_PSEUDONYM_KEY_FILE": str(key_file),
        "CITYHUB_INGEST_METRICS_PORT": str(free_port()),
        "CITYHUB_INGEST_CLIENT_ID": client_id,
        "CITYHUB_INGEST_SHARED_GROUP": group,
        "CITYHUB_INGEST_BATCH_MS": "20",
    })
    env.update(extra or {})
    return env


class IngestWorker:
    """One ingest process; `start` again after a kill resumes its persistent session
    (same client id)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def client_id(self) -> str:
        return self.env["CITYHUB_INGEST_CLIENT_ID"]

    def start(self, *, wait: bool = True) -> None:
        """Start; with *wait*, return once it is subscribed (its `ready` metric)."""
        # A restart gets a fresh metrics port: the dead process's may linger in TIME_WAIT.
        self.env["CITYHUB_INGEST_METRICS_PORT"] = str(free_port())
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "ingest.chaos.serve"],
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        wait_until(lambda: self.metric("cityhub_ingest_ready") == 1.0 or not self.alive(),
                   START_TIMEOUT_S, "ingest to connect and subscribe")
        if not self.alive():
            raise ChaosError(f"ingest exited at start:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def metric(self, name: str) -> float | None:
        """The sum of a metric's samples, None while the endpoint does not answer."""
        url = f"http://127.0.0.1:{self.env['CITYHUB_INGEST_METRICS_PORT']}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return None
        total = None
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
        return total

    def kill(self) -> None:
        """SIGKILL: nothing is committed or acknowledged on the way out."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(15)

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, and wait for the exit; returns the exit code."""
        if self.process is None:
            raise ChaosError("ingest is not running")
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            self.process.kill()
            self.process.wait(10)
            raise ChaosError(f"ingest did not exit within {timeout:.0f} s of SIGTERM") from exc

    def stop(self) -> None:
        if self.alive():
            with suppress(ChaosError):
                self.terminate()
