"""The vendor SDK against a real Mosquitto and the real ingest service."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from devices.sdk import Event, HubClient, HubRejected, Reading
from hub.catalogue import Catalogue
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, count, dead_letters, new_device, now_ms, rows
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def client(broker: Broker, device_id: str) -> HubClient:
    # The test broker is anonymous; a city's broker checks the device id and token.
    return HubClient(device_id, "token-from-cityhub-device-add", broker.host, broker.port)


def online(db: Conn, device_id: str) -> object:
    row = db.execute("SELECT online FROM hub.devices WHERE id = %s", (device_id,)).fetchone()
    assert row is not None
    return row[0]


def test_a_reading_is_stored_and_the_device_is_online(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    with client(broker, station) as hub:
        # An aware datetime in Korea Standard Time, as a vendor in Seoul would give it.
        hub.send_reading({"pm10": 41, "pm25": 18.5}, ts=datetime.now(timezone(timedelta(hours=9))))
        wait_for(lambda: online(db, station) is True, what="the online status")
    assert wait_for(lambda: rows(db, station) if len(rows(db, station)) == 2 else None,
                    what="two readings") == [("pm10", 41.0), ("pm25", 18.5)]
    # close() said goodbye with a retained offline.
    wait_for(lambda: online(db, station) is False, what="the offline status after close")


def test_a_batch_is_stored(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    meter = new_device(db, catalogue, "smart_meter")
    start = datetime.now(UTC) - timedelta(minutes=3)
    batch = [Reading(start + timedelta(minutes=i), {"power_kw": 1.0 + i}) for i in range(3)]
    batch.append(Reading(now_ms(), {"energy_kwh": 1200.5, "household_id": "H-0042"}))
    with client(broker, meter) as hub:
        hub.send_readings(batch)
        hub.send_event(Event(now_ms(), "power_outage", attributes={"household_id": "H-0042"}))
    stored = wait_for(lambda: rows(db, meter) if len(rows(db, meter)) == 4 else None, what="4 readings")
    assert stored == [("power_kw", 1.0), ("power_kw", 2.0), ("power_kw", 3.0), ("energy_kwh", 1200.5)]
    wait_for(lambda: count(db, "SELECT count(*)::int FROM hub.events WHERE device_id = %s", meter) == 1,
             what="the power_outage event")


def test_a_gateway_publishes_for_its_devices(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    gateway = new_device(db, catalogue, "gateway")
    station = new_device(db, catalogue, "air_quality", gateway_id=gateway)
    camera = new_device(db, catalogue, "cctv", gateway_id=gateway)
    with client(broker, gateway) as hub:
        hub.send_for_devices({
            station: [Reading(now_ms() - 1000, {"pm10": 10}), Reading(now_ms(), {"pm10": 12})],
            camera: [Reading(now_ms(), {"person_count": 7})],
        })
    wait_for(lambda: len(rows(db, station)) == 2 and len(rows(db, camera)) == 1, what="gateway rows")
    assert rows(db, station) == [("pm10", 10.0), ("pm10", 12.0)]
    assert rows(db, camera) == [("person_count", 7.0)]


def test_a_bad_reading_surfaces_the_hubs_reason(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    with client(broker, station) as hub:
        hub.send_reading({"pm10": 5000})
        rejection = hub.wait_for_rejection(20)
        assert rejection is not None, "no reply on the errors topic"
        assert rejection.code == "out_of_range"
        assert rejection.topic == f"cityhub/v1/{station}/telemetry"
        assert "pm10=5000" in rejection.reason
        assert "0..2000" in rejection.reason
        hub.send_reading({"energy_kwh": 3.0})
        with pytest.raises(HubRejected, match="wrong_kind") as raised:
            wait_for(lambda: hub.check(), what="check() to raise")
    assert "smart_meter" in raised.value.reason
    assert [code for code, _, _ in dead_letters(db, station)] == ["out_of_range", "wrong_kind"]
    assert rows(db, station) == []


SDK_CHILD = """
import sys
from devices.sdk import HubClient
hub = HubClient(sys.argv[1], "token", sys.argv[2], int(sys.argv[3]), keepalive=5)
hub.connect()
print("connected", flush=True)
sys.stdin.read()
"""


def test_the_last_will_marks_the_device_offline_when_the_sdk_dies(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    child = subprocess.Popen([sys.executable, "-c", SDK_CHILD, station, broker.host, str(broker.port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "connected"
        wait_for(lambda: online(db, station) is True, what="the online status")
        # No DISCONNECT: the broker sees the socket close and publishes the will.
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        wait_for(lambda: online(db, station) is False, what="the last will (offline)")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
