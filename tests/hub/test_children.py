"""How `cityhub up` stops its children (hub/cli/children.py): one SIGTERM to each, one
bound for all, then SIGKILL to the process group of whoever is left, named in the log.
Pure: small Python processes stand in for the services."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hub.cli.children import Child, Stopped, stop_children
from tests.waiting import wait_for

# argv: mode, ready file, grandchild pid file. It writes the ready file once its
# SIGTERM handling is in place, as each service sets its handler before taking work.
_STAND_IN = """
import pathlib, signal, subprocess, sys, time
mode, ready, grandchild = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
if mode == "drains":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
elif mode == "fails":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
elif mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sub = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                            "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    grandchild.write_text(str(sub.pid))
ready.write_text(mode)
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawner]:
    spawner = Spawner(tmp_path)
    yield spawner
    for child in spawner.children:
        if child.running:
            child.process.kill()
            child.process.wait(10)
        pid_file = spawner.grandchild_file(child.name)
        if pid_file.exists() and not _gone(pid := int(pid_file.read_text())):
            psutil.Process(pid).kill()


class Spawner:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.children: list[Child] = []

    def __call__(self, name: str, mode: str, *, service: bool = True) -> Child:
        ready = self.directory / f"{name}.ready"
        process = subprocess.Popen(
            [sys.executable, "-c", _STAND_IN, mode, str(ready), str(self.grandchild_file(name))],
            start_new_session=True)
        child = Child(name, process, service)
        self.children.append(child)
        wait_for(lambda: ready.exists() or not child.running, what=f"{name} to start")
        assert child.running
        return child

    def grandchild_file(self, name: str) -> Path:
        return self.directory / f"{name}.grandchild"


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_services_that_drain_make_a_clean_stop(spawn: Spawner) -> None:
    children = [spawn("ingest", "drains"), spawn("console", "drains")]

    stopped = stop_children(children, timeout=30)

    assert stopped.clean
    assert [c.process.returncode for c in children] == [0, 0]


def test_one_left_running_is_killed_with_its_group_and_named(
    spawn: Spawner, caplog: pytest.LogCaptureFixture,
) -> None:
    stubborn = spawn("simulate", "stubborn")
    grandchild = int(spawn.grandchild_file("simulate").read_text())
    others = [spawn("ingest", "drains"), spawn("analytics", "fails"),
              spawn("forecast training", "oneshot", service=False)]

    with caplog.at_level(logging.WARNING, logger="hub.cli.children"):
        stopped = stop_children([stubborn, *others], timeout=2)

    assert stopped.killed == ("simulate",)
    assert stubborn.process.returncode == -signal.SIGKILL
    wait_for(lambda: _gone(grandchild), what="the stubborn child's own child to be killed too")
    assert "simulate did not stop within 2 s of SIGTERM; killing it" in caplog.messages
    # The one-shot ended by the signal is no failure; a service exiting 3 is.
    assert stopped.failed == ("analytics",)
    assert "analytics exited with code 3" in caplog.messages
    assert not stopped.clean
    assert not any(child.running for child in others)


def test_a_second_signal_kills_those_left_at_once(
    spawn: Spawner, caplog: pytest.LogCaptureFixture,
) -> None:
    stubborn = spawn("simulate", "stubborn")
    grandchild = int(spawn.grandchild_file("simulate").read_text())
    drains = spawn("ingest", "drains")
    hurry = threading.Event()
    result: list[Stopped] = []
    # An hour's bound: only the second signal can end this stop within the join below.
    stopping = threading.Thread(target=lambda: result.append(stop_children([stubborn, drains], 3600, hurry)),
                                daemon=True)
    with caplog.at_level(logging.WARNING, logger="hub.cli.children"):
        stopping.start()
        wait_for(lambda: not drains.running, what="the draining child to exit on SIGTERM")
        assert stubborn.running  # it ignores SIGTERM: the stop is waiting for it
        hurry.set()
        stopping.join(30)
    assert not stopping.is_alive()
    [stopped] = result
    assert stopped.killed == ("simulate",)
    assert stubborn.process.returncode == -signal.SIGKILL
    assert drains.process.returncode == 0
    wait_for(lambda: _gone(grandchild), what="the stubborn child's own child to be killed too")
    assert "stopping at once: killing simulate" in caplog.messages
