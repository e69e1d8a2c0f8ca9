"""`cityhub ingest --workers N`: N ingest processes sharing the stream, and their supervisor.

One ingest process plans batches in one Python thread, so it uses about one core however
many writer threads it has (docs/benchmarks.md). More cores take more processes: each
worker is a whole `cityhub ingest` of its own, subscribed to the same shared subscription
(``$share/<CITYHUB_INGEST_SHARED_GROUP>/cityhub/v1/#``), so the broker hands each
message to exactly one of them [MQTT-4.8.2]. What this module adds is only supervision:

- worker *i* (from 1) is ``<CITYHUB_INGEST_CLIENT_ID>-<i>``, the same name on every
  restart, so a restarted worker resumes its persistent session and receives what the
  broker kept for it (the messages it had not acknowledged when it died);
- worker *i* serves its metrics on ``CITYHUB_INGEST_METRICS_PORT + i - 1`` (every
  worker on a free port of its own when the setting is 0);
- a worker that exits without being asked is started again, after a pause that doubles
  while it keeps dying (``RestartPolicy``);
- SIGTERM or SIGINT is passed on to every worker as one SIGTERM, on which a worker commits
  and acknowledges what it holds (ingest/service.py); the supervisor waits up to
  ``DRAIN_TIMEOUT_S`` for them and exits 0 when every worker did. A second SIGTERM or
  SIGINT is passed on too, and stops the workers at once.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hub.errors import ConfigError
from hub.settings import Settings

log = logging.getLogger(__name__)

MAX_WORKERS = 64
# A worker asked to stop may still be committing and acknowledging its last batches.
DRAIN_TIMEOUT_S = 60.0
_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    index: int  # from 1
    client_id: str
    metrics_port: int  # 0: a free port, chosen by the worker


def worker_specs(settings: Settings, workers: int) -> tuple[WorkerSpec, ...]:
    """The identity of each of *workers* workers; ConfigError when they cannot all exist."""
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"--workers must be between 1 and {MAX_WORKERS}, not {workers}.")
    base = settings.ingest_metrics_port
    if base and base + workers - 1 > 65535:
        raise ConfigError(
            f"CITYHUB_INGEST_METRICS_PORT={base} leaves no room for {workers} workers' metrics "
            f"ports ({base}..{base + workers - 1}); choose a lower port, or 0 for free ones.")
    return tuple(
        WorkerSpec(i, f"{settings.ingest_client_id}-{i}", base + i - 1 if base else 0)
        for i in range(1, workers + 1)
    )


def worker_environment(settings: Settings, spec: WorkerSpec,
                       environ: Mapping[str, str]) -> dict[str, str]:
    """The supervisor's environment, with the worker's own identity and the database URL
    the supervisor resolved (so every worker writes to the same database)."""
    env = dict(environ)
    env["CITYHUB_INGEST_CLIENT_ID"] = spec.client_id
    env["CITYHUB_INGEST_METRICS_PORT"] = str(spec.metrics_port)
    if settings.database_url:
        env["CITYHUB_DATABASE_URL"] = settings.database_url
    return env


class RestartPolicy:
    """How long to wait before starting a dead worker again: ``first`` seconds, doubling
    with each death up to ``longest``; a worker that ran ``healthy`` seconds starts over."""

    def __init__(self, first: float = 1.0, longest: float = 30.0, healthy: float = 60.0) -> None:
        self.first = first
        self.longest = longest
        self.healthy = healthy
        self._next = first

    def after_exit(self, ran_for: float) -> float:
        if ran_for >= self.healthy:
            self._next = self.first
        delay = self._next
        self._next = min(self._next * 2, self.longest)
        return delay


Launcher = Callable[[WorkerSpec], subprocess.Popen[bytes]]


def launch_worker(settings: Settings, environ: Mapping[str, str]) -> Launcher:
    """Starts one ingest process (``python -m ingest``: ``cityhub ingest`` without the other
    commands' imports) as *spec*'s worker; its log goes to the supervisor's standard error."""

    def launch(spec: WorkerSpec) -> subprocess.Popen[bytes]:
        # A process group of its own: Ctrl-C in a terminal reaches the supervisor only, which
        # passes on one SIGTERM (a second signal would make a draining worker stop at once).
        return subprocess.Popen([sys.executable, "-m", "ingest"],
                                env=worker_environment(settings, spec, environ), process_group=0)

    return launch


class _Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.restart_at: float | None = 0.0  # monotonic time to (re)start it; None: running
        self.policy = RestartPolicy()
        self.starts = 0


class Supervisor:
    """Runs one process per spec until *stop* is set, restarting those that die."""

    def __init__(self, specs: Sequence[WorkerSpec], launch: Launcher, stop: threading.Event,
                 *, drain_timeout: float = DRAIN_TIMEOUT_S) -> None:
        self._workers = [_Worker(spec) for spec in specs]
        self._launch = launch
        self._stop = stop
        self._drain_timeout = drain_timeout

    def run(self) -> int:
        """Supervise until asked to stop; then drain. 0 if every worker stopped cleanly."""
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                for worker in self._workers:
                    self._tend(worker, now)
                self._stop.wait(_POLL_S)
        finally:
            failed = self._drain()
        return 1 if failed else 0

    def _tend(self, worker: _Worker, now: float) -> None:
        if worker.restart_at is None:
            assert worker.process is not None
            code = worker.process.poll()
            if code is None:
                return
            delay = worker.policy.after_exit(now - worker.started)
            worker.restart_at = now + delay
            log.warning("ingest worker %d (pid %d) exited with %s; starting it again in %.0f s",
                        worker.spec.index, worker.process.pid, _describe(code), delay)
        elif now >= worker.restart_at:
            worker.process = self._launch(worker.spec)
            worker.started, worker.restart_at = now, None
            if worker.starts:
                log.info("ingest worker %d started again (pid %d)", worker.spec.index,
                         worker.process.pid)
            else:
                log.info("ingest worker %d started (pid %d, client id %s, metrics port %s)",
                         worker.spec.index, worker.process.pid, worker.spec.client_id,
                         worker.spec.metrics_port or "free")
            worker.starts += 1

    def _running(self) -> list[subprocess.Popen[bytes]]:
        return [w.process for w in self._workers
                if w.process is not None and w.restart_at is None and w.process.poll() is None]

    def hurry(self) -> None:
        """A second signal while draining: pass it on, so the workers stop at once."""
        for process in self._running():
            process.send_signal(signal.SIGTERM)

    def _drain(self) -> int:
        """SIGTERM to every running worker, then wait; how many did not stop cleanly."""
        running = self._running()
        log.info("stopping %d ingest worker(s); they commit and acknowledge what they hold",
                 len(running))
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._drain_timeout
        failed = 0
        for process in running:
            try:
                code = process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("ingest worker pid %d did not stop within %.0f s; killing it (the broker "
                          "redelivers what it held)", process.pid, self._drain_timeout)
                process.kill()
                process.wait()
                failed += 1
                continue
            if code != 0:
                log.error("ingest worker pid %d stopped with %s", process.pid, _describe(code))
                failed += 1
        return failed


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def run_workers(settings: Settings, workers: int, stop: threading.Event | None = None) -> int:
    """Run *workers* ingest processes until SIGTERM or SIGINT; the exit code to return."""
    # Refuse a bad configuration here, once, rather than in N workers restarted forever.
    settings.require_service_secret()
    settings.require_database()
    settings.mqtt_target()
    specs = worker_specs(settings, workers)
    stop = stop or threading.Event()
    supervisor = Supervisor(specs, launch_worker(settings, os.environ), stop)

    def on_signal(_signum: int, _frame: object) -> None:
        if stop.is_set():
            supervisor.hurry()
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
    log.info("ingest: %d workers sharing $share/%s", workers, settings.ingest_shared_group)
    code = supervisor.run()
    log.info("ingest workers stopped")
    return code
