"""A cityhub service as operators run it: a child process, JSON logs, stopped by a signal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.helpers import child_env
from tests.waiting import wait_for


def healthy(port: int) -> bool:
    """The console on *port* answers /healthz with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class ServiceProcess:
    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        # A caller's own CITYHUB_LOG_FORMAT wins over the default json.
        self.env = child_env(**{"CITYHUB_LOG_FORMAT": "json", **env})
        self.log_path = log_path  # standard error: the logs
        self.out_path = log_path.with_suffix(".out")  # standard output: what it prints
        with log_path.open("wb") as log, self.out_path.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "hub", *args], env=self.env,
                                            stdout=out, stderr=log)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """Every line of its log, each of which must be one JSON object."""
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]

    def logged(self, fragment: str) -> bool:
        return any(fragment in r["message"] for r in self.records())

    def wait_logged(self, fragment: str, timeout: float = 30) -> None:
        wait_for(lambda: self.logged(fragment) or self.process.poll() is not None,
                 timeout=timeout, what=f"the log line {fragment!r}")
        assert self.logged(fragment), self.text()[-3000:]

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
