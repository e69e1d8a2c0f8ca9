"""SIGTERM drains `cityhub up`: every service drains as it does on its own, then the
embedded broker and PostgreSQL stop cleanly, nothing is left running, and `up` exits 0.

Heavy: the whole demo starts (embedded PostgreSQL and Mosquitto in a new state
directory, migrations, five children), about 20 s on two cores."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from hub.cli.common import RUNNING_FILE
from hub.embedded import free_port
from tests.ops.service_process import ServiceProcess, healthy
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

# What each child logs once it runs with its SIGTERM handling in place, and once drained.
_READY = {"ingest": "connected to the broker", "analytics": "analytics ready",
          "console": "Uvicorn running on", "simulate": "simulating 40 device(s)"}
_DRAINED = {"ingest": "drain: everything taken from the broker is committed and acknowledged",
            "analytics": "analytics stopped", "console": "Application shutdown complete",
            "simulate": "acknowledged"}


def _log(state: Path, service: str) -> str:
    path = state / "logs" / f"{service}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _service(process: psutil.Process) -> str | None:
    """The `cityhub` subcommand *process* runs, if it is one of `up`'s children."""
    try:
        command = process.cmdline()
    except psutil.NoSuchProcess:  # the one-shot training may end at any time
        return None
    return command[3] if command[1:3] == ["-m", "hub"] else None


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_drains_every_service_then_the_embedded_servers_and_exits_0(tmp_path: Path) -> None:
    state = tmp_path / "state"
    demo: list[psutil.Process] = []
    port = free_port()
    up = ServiceProcess(["up"], {"CITYHUB_STATE_DIR": str(state), "CITYHUB_HTTP_PORT": str(port)},
                        tmp_path / "up.log")
    try:
        wait_for(lambda: (healthy(port) and all(line in _log(state, name)
                                                 for name, line in _READY.items()))
                 or up.process.poll() is not None,
                 timeout=180, what="`cityhub up` and its services to be ready")
        assert up.process.poll() is None, up.text()[-3000:]
        running = json.loads((state / RUNNING_FILE).read_text())
        assert running["pid"] == up.process.pid
        postmaster = int((state / "postgres" / "postmaster.pid").read_text().split()[0])
        # Every process of the demo: the children (services, broker, one-shot training)
        # and their own, and the database server (pg_ctl leaves it outside the tree).
        demo = [*psutil.Process(up.process.pid).children(recursive=True),
                psutil.Process(postmaster)]
        assert {"ingest", "analytics", "console", "simulate"} <= {_service(p) for p in demo}

        up.terminate()

        assert up.wait(90) == 0, up.text()[-3000:]
        left = [p for p in demo if _alive(p)]
        assert not left, [p.cmdline() for p in left]
        for name, line in _DRAINED.items():
            assert line in _log(state, name), (name, _log(state, name)[-2000:])
        assert not (state / "postgres" / "postmaster.pid").exists()
        assert "database system is shut down" in (state / "postgres" / "server.log").read_text()
        assert not (state / RUNNING_FILE).exists()
        assert "did not stop within" not in up.text()  # nothing had to be killed
    finally:
        up.kill()
        for process in demo:  # after a failure: leave nothing behind for the next tests
            if _alive(process):
                process.kill()
