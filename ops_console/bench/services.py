"""The bench's child processes: a throw-away Mosquitto, the real ingest service, analytics
and the console, each with its log in the bench's directory and always stopped."""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from hub.bench.processes import Child
from hub.bench.promtext import scrape
from hub.embedded import ThrowawayBroker, free_port, wait_for_port
from hub.errors import HubError
from hub.pseudonym import ensure_keys

START_TIMEOUT_S = 30.0


class Services:
    """Starts the servers one by one; stops every one started, newest first, on exit."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        self.database_url = database_url
        self.broker_port = 0
        self.http_port = 0
        self._broker: ThrowawayBroker | None = None
        self._children: list[Child] = []

    def _start(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> Child:
        child = Child(name, args, self.directory / f"{name}.log", env=env)
        self._children.append(child)
        return child

    def _failed(self, name: str, what: str) -> HubError:
        return HubError(f"The {name} {what}; see {self.directory / f'{name}.log'}.")

    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        env.update({"CITYHUB_DATABASE_URL": self.database_url,
                    "CITYHUB_SECRET_KEY": secrets.token_urlsafe(32), "CITYHUB_LOG_LEVEL": "WARNING"})
        env.update({f"CITYHUB_{k.upper()}": v for k, v in extra.items()})
        return env

    def start_broker(self) -> None:
        self._broker = ThrowawayBroker(self.directory)
        self._broker.start()
        self.broker_port = self._broker.port

    def start_ingest(self) -> None:
        """The real ingest service, as operators run it, with its default batching."""
        key_file = self.directory / "pseudonym-keys.json"
        ensure_keys(key_file)
        metrics = free_port()
        env = self._env(mqtt_url=f"mqtt://127.0.0.1:{self.broker_port}",
                        pseudonym_key_file=str(key_file), state_dir=str(self.directory),
                        ingest_metrics_port=str(metrics),
                        ingest_client_id=f"cityhub-bench-{secrets.token_hex(4)}")
        ingest = self._start("ingest", [sys.executable, "-m", "hub", "ingest"], env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ingest_ready(metrics):
            if not ingest.alive():
                raise self._failed("ingest", "exited")
            if time.monotonic() > deadline:
                raise self._failed("ingest", "was not subscribed in time")
            time.sleep(0.1)

    def start_hub(self, ws_queue_limit: int) -> None:
        """Analytics (rules → alerts) and the console (API and live view)."""
        self.http_port = free_port()
        env = self._env(http_port=str(self.http_port), console_ws_queue_limit=str(ws_queue_limit),
                        analytics_metrics_port="0")
        self._start("analytics", [sys.executable, "-m", "hub", "analytics"], env)
        self._start("console", [sys.executable, "-m", "hub", "console"], env)
        if not wait_for_port(self.http_port, START_TIMEOUT_S):
            raise self._failed("console", "did not start")

    def stop(self) -> None:
        for child in reversed(self._children):
            child.stop()
        self._children.clear()
        if self._broker is not None:
            self._broker.stop()
            self._broker = None

    def __enter__(self) -> Services:
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.stop()


def _ingest_ready(port: int) -> bool:
    try:
        # ingest/metrics.py: 1 once subscribed and consuming.
        return scrape(f"http://127.0.0.1:{port}/metrics").value("cityhub_ingest_ready") == 1.0
    except OSError:
        return False
