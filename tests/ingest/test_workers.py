"""`cityhub ingest --workers N`: workers share the stream, die and come back, drain on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hub.catalogue import Catalogue
from hub.embedded import ThrowawayBroker
from hub.errors import ConfigError
from hub.settings import load_settings
from ingest.bench.promtext import parse
from ingest.workers import RestartPolicy, worker_environment, worker_specs
from tests.fix_ingest import ingest_env
from tests.fix_mqtt import Broker
from tests.helpers import Conn, count, new_device, now_ms
from tests.mqtt_client import device
from tests.waiting import wait_for


def test_each_worker_has_its_own_client_id_and_metrics_port() -> None:
    settings = load_settings({}, ingest_client_id="ingest-a", ingest_metrics_port=9108)
    specs = worker_specs(settings, 3)
    assert [(s.index, s.client_id, s.metrics_port) for s in specs] == [
        (1, "ingest-a-1", 9108), (2, "ingest-a-2", 9109), (3, "ingest-a-3", 9110)]
    env = worker_environment(settings.model_copy(update={"database_url": "postgresql://h/db"}),
                             specs[1], {"CITYHUB_INGEST_CLIENT_ID": "ingest-a", "PATH": "/bin"})
    assert env == {"CITYHUB_INGEST_CLIENT_ID": "ingest-a-2", "CITYHUB_INGEST_METRICS_PORT": "9109",
                   "CITYHUB_DATABASE_URL": "postgresql://h/db", "PATH": "/bin"}


def test_metrics_port_zero_gives_every_worker_a_free_port() -> None:
    specs = worker_specs(load_settings({}, ingest_metrics_port=0), 2)
    assert [s.metrics_port for s in specs] == [0, 0]


def test_workers_that_do_not_fit_are_refused_at_start() -> None:
    with pytest.raises(ConfigError, match=r"65534\.\.65537"):
        worker_specs(load_settings({}, ingest_metrics_port=65534), 4)
    with pytest.raises(ConfigError, match="between 1 and 64"):
        worker_specs(load_settings({}), 0)


def test_a_worker_that_keeps_dying_waits_longer_each_time_until_it_runs_well() -> None:
    policy = RestartPolicy(first=1, longest=8, healthy=60)
    assert [policy.after_exit(0.5) for _ in range(5)] == [1, 2, 4, 8, 8]
    assert policy.after_exit(120) == 1  # it had run a while: a fresh start
    assert policy.after_exit(3) == 2


# -- the real thing -----------------------------------------------------------------------------

def _consecutive_free_ports(n: int) -> int:
    """The first of *n* consecutive ports nothing listens on."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + n > 65535:
            continue
        try:
            for port in range(first, first + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise AssertionError("no run of free ports")


def _metrics(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return None


def _ready(port: int) -> bool:
    text = _metrics(port)
    return text is not None and parse(text).ready


def _received(port: int) -> int:
    text = _metrics(port)
    assert text is not None, f"worker on port {port} does not answer"
    return parse(text).received


def _workers(supervisor: subprocess.Popen[bytes]) -> dict[str, psutil.Process]:
    """The supervisor's live worker processes, by client id."""
    out = {}
    for child in psutil.Process(supervisor.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                out[child.environ()["CITYHUB_INGEST_CLIENT_ID"]] = child
        except (psutil.NoSuchProcess, KeyError):
            continue
    return out


def _publish(broker: Broker, devices: list[str], start: int, n: int, base_ms: int) -> None:
    with device(broker) as client:
        for i in range(start, start + n):
            client.publish(f"cityhub/v1/{devices[i % len(devices)]}/telemetry",
                           {"ts": base_ms + i, "pm10": float(i % 500)})


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test's own: no retained message of other tests reaches the workers
    (Mosquitto 2.0 sends retained messages to each member of a shared group)."""
    with ThrowawayBroker(tmp_path / "broker") as running:
        yield Broker("127.0.0.1", running.port)


@pytest.mark.integration
def test_three_workers_share_the_stream_restart_when_killed_and_drain_on_sigterm(
    db: Conn, catalogue: Catalogue, database_url: str, own_broker: Broker, key_file: Path,
    tmp_path: Path,
) -> None:
    broker = own_broker
    devices = [new_device(db, catalogue, "air_quality", prefix="wrk") for _ in range(6)]
    base_port = _consecutive_free_ports(3)
    env = ingest_env(database_url, broker, key_file, CITYHUB_INGEST_METRICS_PORT=str(base_port),
                     CITYHUB_LOG_FORMAT="json")
    client_id = env["CITYHUB_INGEST_CLIENT_ID"]
    ports = {f"{client_id}-{i}": base_port + i - 1 for i in (1, 2, 3)}
    log_path = tmp_path / "ingest.log"
    with log_path.open("wb") as log:
        supervisor = subprocess.Popen([sys.executable, "-m", "hub", "ingest", "--workers", "3"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT)

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-3000:]

    def stored() -> int:
        return count(db, "SELECT count(*) FROM hub.telemetry WHERE device_id = ANY(%s)", devices)

    try:
        wait_for(lambda: all(_ready(p) for p in ports.values()) or supervisor.poll() is not None,
                 timeout=60, what="three workers subscribed")
        assert supervisor.poll() is None, log_tail()
        assert set(_workers(supervisor)) == set(ports)

        base_ms = now_ms() - 600_000
        _publish(broker, devices, 0, 300, base_ms)
        wait_for(lambda: stored() == 300, timeout=30, what="300 readings stored")
        shares = {cid: _received(port) for cid, port in ports.items()}
        assert sum(shares.values()) == 300, shares  # each message went to one worker
        assert all(n > 0 for n in shares.values()), shares  # and every worker had its share

        victim = f"{client_id}-2"
        old = _workers(supervisor)[victim]
        old.send_signal(signal.SIGKILL)
        wait_for(lambda: (p := _workers(supervisor).get(victim)) is not None and p.pid != old.pid
                 and _ready(ports[victim]), timeout=60, what="the killed worker started again")
        assert "ingest worker 2" in log_tail()
        assert "SIGKILL" in log_tail()

        _publish(broker, devices, 300, 90, base_ms)
        wait_for(lambda: stored() == 390, timeout=30, what="390 readings stored")
        assert _received(ports[victim]) > 0  # the new worker takes its share again
        assert count(db, "SELECT count(DISTINCT (device_id, ts)) FROM hub.telemetry "
                     "WHERE device_id = ANY(%s)", devices) == 390

        workers = list(_workers(supervisor).values())
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(60) == 0, log_tail()
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
        records = [json.loads(line) for line in log_path.read_text().splitlines() if line]
        # Each worker's own clean end, in the supervisor's log, every line JSON.
        assert sum(r["message"] == "ingest stopped" for r in records) >= 3
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(10)
        for orphan in psutil.process_iter(["environ"]):
            env_of = orphan.info.get("environ") or {}
            if env_of.get("CITYHUB_INGEST_CLIENT_ID", "").startswith(f"{client_id}-"):
                orphan.kill()
