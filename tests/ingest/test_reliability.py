"""Nothing is lost or duplicated when the database goes away or ingest is killed.

Each test has its own broker, so no other ingest process shares its stream.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hub.catalogue import Catalogue
from hub.embedded import free_port, mosquitto_binary, wait_for_port
from tests.fix_ingest import IngestProcess, ingest_env
from tests.fix_mqtt import Broker, write_config
from tests.helpers import Conn, count, now_ms
from tests.mqtt_client import device
from tests.tcp_proxy import TcpProxy
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    binary = mosquitto_binary()
    assert binary is not None
    port = free_port()
    process = subprocess.Popen([binary, "-c", str(write_config(tmp_path, port))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for_port(port, 15)
    yield Broker("127.0.0.1", port)
    process.terminate()
    process.wait(10)


class Publisher(threading.Thread):
    """Publishes numbered readings at a steady pace, each waiting for its PUBACK."""

    def __init__(self, broker: Broker, device_ids: list[str], total: int, per_second: float) -> None:
        super().__init__(daemon=True)
        self.broker = broker
        self.device_ids = device_ids
        self.total = total
        self.interval = 1.0 / per_second
        self.sent = 0
        self.started_ms = now_ms() - 600_000

    def run(self) -> None:
        with device(self.broker) as client:
            for i in range(self.total):
                device_id = self.device_ids[i % len(self.device_ids)]
                client.publish(f"cityhub/v1/{device_id}/telemetry",
                               {"ts": self.started_ms + i, "pm10": float(i % 1000)})
                self.sent += 1
                time.sleep(self.interval)


def stored(db: Conn, device_ids: list[str]) -> int:
    return count(db, "SELECT count(*) FROM hub.telemetry WHERE device_id = ANY(%s)", device_ids)


def test_a_database_outage_of_20_s_loses_nothing(
    db: Conn, catalogue: Catalogue, database_url: str, private_broker: Broker, key_file: Path,
    tmp_path: Path, new_devices: list[str],
) -> None:
    target = urlsplit(database_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxy.start()
    proxied = database_url.replace(f":{target.port}/", f":{proxy.port}/")
    ingest = IngestProcess(ingest_env(proxied, private_broker, key_file), tmp_path / "ingest.log")
    ingest.start()
    try:
        before = Publisher(private_broker, new_devices, total=100, per_second=50)
        before.run()
        wait_for(lambda: stored(db, new_devices) == 100, what="readings before the outage")

        proxy.cut()
        during = Publisher(private_broker, new_devices, total=400, per_second=20)
        during.started_ms = before.started_ms + 100
        started = time.monotonic()
        during.run()  # about 20 s of publishing while the database is unreachable
        wait_for(lambda: ingest.metric("cityhub_ingest_db_up") == 0.0, what="ingest to notice")
        assert stored(db, new_devices) == 100
        outage = time.monotonic() - started
        proxy.restore()

        wait_for(lambda: stored(db, new_devices) == 500, timeout=60, what="the backlog to be stored")
        assert outage >= 19
        assert count(db, "SELECT count(DISTINCT (device_id, ts)) FROM hub.telemetry "
                     "WHERE device_id = ANY(%s)", new_devices) == 500
        assert ingest.metric("cityhub_ingest_db_outages_total") == 1.0
        assert count(db, "SELECT count(*) FROM hub.dead_letters WHERE device_id = ANY(%s)",
                     new_devices) == 0
    finally:
        ingest.stop()
        proxy.cut()


def test_ingest_killed_mid_stream_and_restarted_loses_nothing(
    db: Conn, database_url: str, private_broker: Broker, key_file: Path, tmp_path: Path,
    new_devices: list[str],
) -> None:
    ingest = IngestProcess(ingest_env(database_url, private_broker, key_file), tmp_path / "ingest.log")
    ingest.start()
    try:
        publisher = Publisher(private_broker, new_devices, total=1500, per_second=300)
        publisher.start()
        wait_for(lambda: stored(db, new_devices) >= 200, what="ingest to be mid-stream")
        ingest.kill()
        at_kill = stored(db, new_devices)
        assert at_kill < 1500
        ingest.start()  # same client id: the broker resumes the persistent session
        publisher.join(30)
        assert publisher.sent == 1500
        wait_for(lambda: stored(db, new_devices) == 1500, timeout=60, what="every reading")
        assert count(db, "SELECT count(DISTINCT (device_id, ts)) FROM hub.telemetry "
                     "WHERE device_id = ANY(%s)", new_devices) == 1500
    finally:
        ingest.stop()


@pytest.fixture
def new_devices(db: Conn, catalogue: Catalogue) -> list[str]:
    from tests.helpers import new_device

    return [new_device(db, catalogue, "air_quality", prefix="rel") for _ in range(5)]
