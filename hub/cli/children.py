"""The child processes of `cityhub up`: started each in a session of its own, stopped
together.

A terminal's Ctrl-C reaches `up` only (the children are outside the terminal's process
group), so `up` decides the order: every service first, all at once and within one
bound, then the broker and the database they were using. A second Ctrl-C (or SIGTERM)
while they drain kills the services left at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HURRY_POLL_S = 0.1  # how soon a second Ctrl-C takes effect


@dataclass(frozen=True)
class Child:
    """A `cityhub` subcommand run by `up`; *name* is what the logs call it. A *service*
    runs until stopped; a one-shot (not a service) may end, or be stopped, at any time."""

    name: str
    process: subprocess.Popen[bytes]
    service: bool = True

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def start_child(name: str, args: list[str], env: dict[str, str], log_path: Path, *,
                service: bool = True) -> Child:
    """`cityhub <args>` with its output appended to *log_path*."""
    with log_path.open("ab") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "hub", *args], env=env,
                                   stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return Child(name, process, service)


@dataclass(frozen=True)
class Stopped:
    """How the children ended: *killed* did not stop within the bound; *failed* are the
    services that exited with an error (after SIGTERM each exits 0 once it has drained)."""

    killed: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not self.killed and not self.failed


def stop_children(children: Sequence[Child], timeout: float,
                  hurry: threading.Event | None = None) -> Stopped:
    """SIGTERM to every child still running, all at once; wait for them all within
    *timeout* seconds in total, then SIGKILL the process group of each one left. Once
    *hurry* is set (a second Ctrl-C), the waiting ends and those left are killed at once."""
    for child in children:
        if child.running:
            child.process.send_signal(signal.SIGTERM)
    hurry = hurry or threading.Event()
    deadline = time.monotonic() + timeout
    for child in children:
        # One deadline for all: the children drain side by side, so waiting for each in
        # turn costs no more than waiting for the slowest.
        while child.running and not hurry.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(min(remaining, HURRY_POLL_S))
    left = [child for child in children if child.running]
    if left and hurry.is_set():
        log.warning("stopping at once: killing %s", ", ".join(c.name for c in left))
    elif left:
        log.warning("%s did not stop within %.0f s of SIGTERM; killing %s",
                    ", ".join(c.name for c in left), timeout, "it" if len(left) == 1 else "them")
    for child in left:
        # The group: whatever the child started goes with it (it leads its session).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGKILL)
        child.process.wait()
    failed = [child for child in children if child.service and child not in left
              and child.process.returncode not in _STOPPED_CODES]
    for child in failed:
        log.warning("%s exited with code %s", child.name, child.process.returncode)
    return Stopped(tuple(c.name for c in left), tuple(c.name for c in failed))


# 0: drained and exited. -SIGTERM: the signal came while the service was still starting,
# before it had set its handler and taken any work to drain.
_STOPPED_CODES = (0, -signal.SIGTERM)
