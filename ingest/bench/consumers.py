"""The two consumers a trial can measure, as child processes with one way to watch them:
the real ingest service (its /metrics page) and the naive one (its stdout)."""

from __future__ import annotations

import math
import os
import secrets
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import psutil
from psycopg import sql

from hub.bench.errors import BenchError
from hub.bench.histogram import Histogram
from hub.bench.processes import Child, LineFollower
from hub.db import table
from hub.embedded import free_port
from ingest.bench.naive import APPLICATION_NAME as NAIVE_APPLICATION_NAME
from ingest.bench.naive import TABLE as NAIVE_TABLE
from ingest.bench.naive import NaiveProgress
from ingest.bench.promtext import IngestCounters, combined, scrape
from ingest.metrics import LAG_BUCKETS

_READY_POLL_S = 0.1


def consecutive_free_ports(n: int, attempts: int = 50) -> int:
    """The first of *n* consecutive ports of 127.0.0.1 that nothing listens on."""
    for _ in range(attempts):
        first = free_port()
        if first + n > 65536:
            continue
        try:
            for port in range(first + 1, first + n):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise BenchError(f"Found no {n} consecutive free ports for the workers' metrics.")


@dataclass(frozen=True, slots=True)
class Snapshot:
    received: int  # messages
    stored: int  # messages committed
    readings: int  # rows committed
    rejected: int
    lag: Histogram  # publish → commit, seconds
    committed_at: float  # epoch seconds of the last commit, as closely as it is known


class Consumer(Protocol):
    name: str
    application_name: str  # of its database connection, to find its server process
    table: sql.Composable  # where its readings land
    unique_rows: bool  # a primary key rules duplicate rows out

    @property
    def pid(self) -> int: ...

    def processes(self) -> tuple[int, ...]: ...
    def wait_ready(self, timeout: float) -> None: ...
    def snapshot(self) -> Snapshot: ...
    def require_alive(self) -> None: ...
    def __enter__(self) -> Consumer: ...
    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class IngestConsumer:
    name = "ingest"
    application_name = "cityhub-ingest"
    table: sql.Composable = table("telemetry")
    unique_rows = True

    def __init__(self, directory: Path, database_url: str, broker_url: str, key_file: Path,
                 batch: int, mqtt_protocol: str, workers: int = 1) -> None:
        # With --workers N, worker i serves its metrics on the first port + i - 1.
        metrics_port = free_port() if workers == 1 else consecutive_free_ports(workers)
        self.workers = workers
        if workers > 1:
            self.name = f"ingest-{workers}-workers"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        env.update({
            "CITYHUB_DATABASE_URL": database_url,
            "CITYHUB_MQTT_URL": broker_url,
            "CITYHUB_MQTT_PROTOCOL": mqtt_protocol,
            "CITYHUB_DEMO": "1",
            "CITYHUB_PSEUDONYM_KEY_FILE": str(key_file),
            "CITYHUB_STATE_DIR": str(directory),
            "CITYHUB_INGEST_METRICS_PORT": str(metrics_port),
            "CITYHUB_INGEST_BATCH_SIZE": str(batch),
            "CITYHUB_INGEST_CLIENT_ID": f"cityhub-bench-{secrets.token_hex(4)}",
        })
        self._metrics_urls = [f"http://127.0.0.1:{metrics_port + i}/metrics" for i in range(workers)]
        args = [sys.executable, "-m", "hub", "ingest"] + (["--workers", str(workers)] if workers > 1 else [])
        self._child = Child(self.name, args, directory / "ingest.log", env=env)
        self._stored = -1
        self._committed_at = 0.0

    @property
    def pid(self) -> int:
        return self._child.pid

    def processes(self) -> tuple[int, ...]:
        """The supervisor and its workers with --workers, else the one ingest process."""
        return (self.pid, *(p.pid for p in psutil.Process(self.pid).children()))

    def require_alive(self) -> None:
        self._child.require_alive()

    def _scrape(self) -> IngestCounters:
        return combined([scrape(url) for url in self._metrics_urls])

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.require_alive()
            try:
                if self._scrape().ready:
                    return
            except OSError:
                pass  # not serving yet
            time.sleep(_READY_POLL_S)
        raise BenchError(f"Ingest was not subscribed within {timeout:.0f} s:\n{self._child.log_tail()}")

    def snapshot(self) -> Snapshot:
        try:
            counters = self._scrape()
        except OSError as exc:
            self.require_alive()
            raise BenchError(f"Ingest's metrics do not answer: {exc}") from exc
        # The page has no commit time; the first look at a new count bounds it.
        if counters.stored != self._stored:
            self._stored, self._committed_at = counters.stored, time.time()
        return Snapshot(counters.received, counters.stored, counters.readings, counters.rejected,
                        counters.lag, self._committed_at)

    def __enter__(self) -> IngestConsumer:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._child.stop()


class NaiveConsumer:
    name = "naive"
    application_name = NAIVE_APPLICATION_NAME
    table: sql.Composable = NAIVE_TABLE
    unique_rows = False

    def __init__(self, directory: Path, database_url: str, broker_port: int, batch: int) -> None:
        args = [sys.executable, "-m", "ingest.bench.naive", "--port", str(broker_port),
                "--database-url", database_url, "--batch", str(batch)]
        self._child = Child("naive consumer", args, directory / "naive.log", pipe_stdout=True)
        self._lines = LineFollower(self._child.stdout, NaiveProgress.from_json)
        self._bounds = (*LAG_BUCKETS, math.inf)

    @property
    def pid(self) -> int:
        return self._child.pid

    def processes(self) -> tuple[int, ...]:
        return (self.pid,)

    def require_alive(self) -> None:
        self._child.require_alive()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._lines.latest is None:
            self.require_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"The naive consumer was not subscribed within {timeout:.0f} s.")
            time.sleep(_READY_POLL_S)

    def snapshot(self) -> Snapshot:
        p = self._lines.latest
        if p is None:
            return Snapshot(0, 0, 0, 0, Histogram.empty(LAG_BUCKETS), 0.0)
        lag = Histogram(self._bounds, tuple(float(n) for n in p.lag))
        return Snapshot(p.received, p.stored, p.readings, 0, lag, p.committed_at)

    def __enter__(self) -> NaiveConsumer:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._child.stop()
