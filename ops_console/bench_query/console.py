"""The console as operators run it (`cityhub console`, a child process), and its memory:
a thread samples the resident set size of the process (and any children) while a
measurement runs, so the peak of a streamed export is seen, not just its end."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from hub.embedded import free_port, wait_for_port
from ops_console.bench_query import QueryBenchError

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
SAMPLE_EVERY_S = 0.02


class Console:
    """`python -m hub console` on a free port against *database_url*; stopped on exit."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        env |= {"CITYHUB_DATABASE_URL": database_url, "CITYHUB_SECRET_KEY": secrets.token_urlsafe(32),
                "CITYHUB_HTTP_PORT": str(self.port), "CITYHUB_LOG_LEVEL": "WARNING"}
        with log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "hub", "console"], env=env,
                                            stdout=log, stderr=log)
        if not wait_for_port(self.port, START_TIMEOUT_S) or self.process.poll() is not None:
            self.stop()
            raise QueryBenchError(f"The console did not start; see {log_path}.")

    def rss(self) -> int:
        """Resident bytes of the console and its children now."""
        try:
            main = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [main, *main.children(recursive=True)])
        except psutil.NoSuchProcess as exc:
            raise QueryBenchError(f"The console exited; see {self.log_path}.") from exc

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)

    def __enter__(self) -> Console:
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.stop()


class PeakRss:
    """``with PeakRss(console) as peak:`` … ``peak.bytes`` is the largest RSS seen inside."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bytes = 0
        self.baseline = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.bytes = max(self.bytes, self.console.rss())
            except QueryBenchError:
                return
            self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> PeakRss:
        self.baseline = self.bytes = self.console.rss()
        self._thread.start()
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.bytes = max(self.bytes, self.console.rss())


def wait_ready(console: Console, timeout: float = START_TIMEOUT_S) -> None:
    """Until /readyz answers 200 (the pool is up), so the first measured call is not the warm-up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(console.base_url + "/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise QueryBenchError(f"The console was not ready in {timeout:.0f} s; see {console.log_path}.")
        time.sleep(0.2)
