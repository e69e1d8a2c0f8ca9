"""A committed batch is announced to listeners (analytics, the console's live view)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from hub.catalogue import Catalogue
from hub.notify import DEVICE_STATUS, EVENTS, PAYLOAD_BUDGET, TELEMETRY
from ingest.notify import notifications
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, new_device, now_ms
from tests.mqtt_client import device
from tests.waiting import wait_for

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_batch_names_its_time_range_and_devices() -> None:
    readings = [(T0 + timedelta(seconds=5), "b", "pm10", 1.0), (T0, "a", "pm10", 2.0),
                (T0 + timedelta(seconds=2), "a", "pm25", 3.0)]
    notes = notifications(readings, [(T0, "cam")], {"a": False})
    assert [c for c, _ in notes] == [TELEMETRY, EVENTS, DEVICE_STATUS]
    assert json.loads(notes[0][1]) == {"from": T0.isoformat(),
                                       "to": (T0 + timedelta(seconds=5)).isoformat(),
                                       "devices": ["a", "b"]}
    assert json.loads(notes[1][1])["devices"] == ["cam"]
    assert json.loads(notes[2][1]) == {"device_id": "a", "online": False}


def test_too_many_devices_for_one_payload_means_any_device_in_the_range() -> None:
    readings = [(T0, f"device-{i:06d}", "pm10", 1.0) for i in range(2000)]
    [(_, payload)] = notifications(readings, [], {})
    assert len(payload) <= PAYLOAD_BUDGET
    assert json.loads(payload)["devices"] is None


def test_an_empty_batch_announces_nothing() -> None:
    assert notifications([], [], {}) == []


@pytest.fixture
def listener(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {TELEMETRY}")
        yield conn


@pytest.mark.integration
def test_stored_readings_are_notified_after_the_commit(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess,
    listener: psycopg.Connection[tuple[object, ...]],
) -> None:
    station = new_device(db, catalogue, "air_quality")
    ts = now_ms()
    with device(broker) as client:
        client.publish(f"cityhub/v1/{station}/telemetry", {"ts": ts, "pm10": 151})

    def ours() -> dict[str, object] | None:
        for note in listener.notifies(timeout=0.5, stop_after=1):
            payload = json.loads(note.payload)
            if payload["devices"] is None or station in payload["devices"]:
                return dict(payload)
        return None

    payload = wait_for(ours, what="a notification naming the station")
    stored = db.execute("SELECT count(*) FROM hub.telemetry WHERE device_id = %s AND ts >= %s "
                        "AND ts <= %s", (station, payload["from"], payload["to"])).fetchone()
    assert stored == (1,)
