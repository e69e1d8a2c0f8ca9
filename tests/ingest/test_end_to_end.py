"""A device publishes over a real Mosquitto; the real ingest stores it in PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hub.catalogue import Catalogue
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, count, dead_letters, new_device, now_iso, now_ms, rows
from tests.mqtt_client import device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def test_a_published_reading_is_stored_with_its_values(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality", zone="jung-gu")
    with device(broker) as client:
        client.publish(f"cityhub/v1/{station}/telemetry",
                       {"ts": now_iso(), "pm10": 42.5, "pm25": 17, "temperature": -3.25})
    stored = wait_for(lambda: rows(db, station) if len(rows(db, station)) == 3 else None,
                      what="three stored readings")
    assert stored == [("pm10", 42.5), ("pm25", 17.0), ("temperature", -3.25)]


def test_every_payload_form_is_accepted(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    base = now_ms() - 60_000
    with device(broker) as client:
        topic = f"cityhub/v1/{station}/telemetry"
        client.publish(topic, [{"ts": base, "pm10": 1.0}, {"ts": base + 1000, "pm10": 2.0}])
        client.publish(topic, {"ts": base + 2000, "values": {"pm10": 3.0, "humidity": 55}})
        # ISO-8601 with a Korean offset, as a vendor in Seoul would send it.
        seoul = datetime.now(timezone(timedelta(hours=9))) - timedelta(seconds=30)
        client.publish(topic, {"ts": seoul.isoformat(), "so2": 0.004})
    wait_for(lambda: len(rows(db, station)) == 5, what="five readings")
    values = {m: v for m, v in rows(db, station) if m != "pm10"}
    assert values == {"humidity": 55.0, "so2": 0.004}
    pm10 = [v for m, v in rows(db, station) if m == "pm10"]
    assert pm10 == [1.0, 2.0, 3.0]


def test_the_same_message_twice_gives_one_row(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    message = {"ts": now_ms(), "pm10": 80.0}
    marker = {"ts": now_ms() + 5, "pm25": 1.0}
    with device(broker) as client:
        client.publish(f"cityhub/v1/{station}/telemetry", message)
        client.publish(f"cityhub/v1/{station}/telemetry", message)
        client.publish(f"cityhub/v1/{station}/telemetry", marker)
    wait_for(lambda: any(m == "pm25" for m, _ in rows(db, station)), what="the marker reading")
    assert rows(db, station).count(("pm10", 80.0)) == 1
    # The rollup counts the reading once, too.
    assert count(db, "SELECT sum(n)::int FROM hub.telemetry_1m WHERE device_id = %s AND metric = 'pm10'",
                 station) == 1


def test_gateway_publishes_for_devices_behind_it(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    gateway = new_device(db, catalogue, "gateway")
    left = new_device(db, catalogue, "air_quality", gateway_id=gateway)
    right = new_device(db, catalogue, "smart_meter", gateway_id=gateway)
    with device(broker) as client:
        client.publish(f"cityhub/v1/gateway/{gateway}/telemetry", {
            left: [{"ts": now_ms(), "pm10": 10.0}],
            right: [{"ts": now_ms(), "power_kw": 1.5, "voltage": 221.0}],
        })
    wait_for(lambda: len(rows(db, left)) == 1 and len(rows(db, right)) == 2, what="gateway rows")
    assert rows(db, right) == [("power_kw", 1.5), ("voltage", 221.0)]


def test_a_status_message_marks_the_device_online_and_offline(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    camera = new_device(db, catalogue, "cctv")

    def online() -> object:
        row = db.execute("SELECT online FROM hub.devices WHERE id = %s", (camera,)).fetchone()
        return row[0] if row else None

    with device(broker) as client:
        client.publish(f"cityhub/v1/{camera}/status", "online")
        wait_for(lambda: online() is True, what="online")
        client.publish(f"cityhub/v1/{camera}/status", "offline")
        wait_for(lambda: online() is False, what="offline")


REJECTS = [
    ("malformed_json", "air_quality", b'{"ts": 1, "pm10": ', "not valid JSON"),
    ("unknown_device", None, {"ts": "NOW", "pm10": 1.0}, "not registered"),
    ("wrong_kind", "smart_meter", {"ts": "NOW", "pm10": 1.0}, "belongs to air_quality"),
    ("out_of_range", "air_quality", {"ts": "NOW", "pm10": 99999.0}, "outside the valid range"),
    ("future_timestamp", "air_quality", {"ts": "FUTURE", "pm10": 1.0}, "in the future"),
]


@pytest.mark.parametrize(("code", "kind", "payload", "reason"), REJECTS, ids=[r[0] for r in REJECTS])
def test_a_bad_message_is_a_dead_letter_with_a_reply_and_the_stream_goes_on(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess,
    code: str, kind: str | None, payload: object, reason: str,
) -> None:
    sender = new_device(db, catalogue, kind) if kind else "t-ghost-" + code
    good = new_device(db, catalogue, "air_quality")
    if isinstance(payload, dict):
        stamp = {"NOW": now_ms(), "FUTURE": now_ms() + 3_600_000}[payload["ts"]]
        payload = {**payload, "ts": stamp}
    with device(broker) as client:
        client.subscribe(f"cityhub/v1/{sender}/errors")
        client.publish(f"cityhub/v1/{sender}/telemetry", payload)  # type: ignore[arg-type]
        client.publish(f"cityhub/v1/{good}/telemetry", {"ts": now_ms(), "pm10": 5.0})
        wait_for(lambda: rows(db, good) == [("pm10", 5.0)], what="the good message after the bad")
        replies = wait_for(client.replies, what="an errors-topic reply")
    letters = dead_letters(db, sender)
    assert [(c, reason in str(r)) for c, r, _ in letters] == [(code, True)]
    topic, reply = replies[0]
    assert topic == f"cityhub/v1/{sender}/errors"
    assert reply["code"] == code
    assert reason in reply["reason"]
    assert rows(db, sender) == []
