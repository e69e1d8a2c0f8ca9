"""Child processes of the bench: started with a log file, always stopped, measured."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Generic, TypeVar

import psutil

from hub.bench.errors import BenchError

log = logging.getLogger(__name__)

T = TypeVar("T")

STOP_TIMEOUT_S = 15.0


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds a bench like Ctrl-C, so its brokers, servers, processes and databases
    are removed."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Child:
    """A process whose output goes to *log_path* (stdout to a pipe when *pipe_stdout*)."""

    def __init__(self, name: str, args: Sequence[str], log_path: Path, *,
                 env: Mapping[str, str] | None = None, pipe_stdout: bool = False) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                list(args), env=None if env is None else dict(env),
                stdout=subprocess.PIPE if pipe_stdout else log_file, stderr=log_file,
            )
        log.info("started %s (pid %d)", name, self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stdout(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""

    def require_alive(self) -> None:
        if not self.alive():
            raise BenchError(
                f"The {self.name} process exited with code {self.process.returncode}. "
                f"Its log ends with:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", self.name, STOP_TIMEOUT_S)
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.stop()


class LineFollower(Generic[T]):
    """Keeps the latest of the JSON lines a child writes, parsed by *parse*, read in a thread
    so that the bench never blocks on a pipe."""

    def __init__(self, stream: IO[bytes], parse: Callable[[str], T]) -> None:
        self._stream = stream
        self._parse = parse
        self._lock = threading.Lock()
        self._latest: T | None = None
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            for raw in self._stream:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                try:
                    item = self._parse(line)
                except (ValueError, KeyError, TypeError):
                    log.warning("ignoring an unreadable line from a child: %.200s", line)
                    continue
                with self._lock:
                    self._latest = item
        except (OSError, ValueError):
            pass  # the pipe was closed by stop()

    @property
    def latest(self) -> T | None:
        with self._lock:
            return self._latest

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of *pid* so far; None when it cannot be read (not ours,
    gone, or on another machine)."""
    if pid is None:
        return None
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)
