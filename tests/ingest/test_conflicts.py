"""A different value at a stored key is a `conflict`, reported to the device; the same
value again is a silent redelivery. Devices publish over a real Mosquitto to the real
ingest service; a few store-level cases pin the batch's own duplicates."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.domain import Event
from hub.registry import add_device
from ingest.conflicts import Conflicts
from ingest.pipeline import BatchPlan
from ingest.store import Store
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, count, dead_letters, new_device, now_ms, rows
from tests.mqtt_client import Device, device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

PLATE = "12가3456"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _marker(db: Conn, client: Device, station: str) -> None:
    """Publish a reading after the others and wait for it: ingest handles a device's
    messages in order, so everything before it has been handled (and replied to)."""
    ts = now_ms() + 1
    client.publish(f"cityhub/v1/{station}/telemetry", {"ts": ts, "temperature": 1.5})
    wait_for(lambda: ("temperature", 1.5) in rows(db, station), what="the marker reading")


def _conflicts(db: Conn, device_id: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in dead_letters(db, device_id) if r[0] == "conflict"]


def test_the_same_reading_twice_is_silent_and_a_new_value_is_a_reported_conflict(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    ts = now_ms() - 60_000
    topic = f"cityhub/v1/{station}/telemetry"
    with device(broker) as client:
        client.subscribe(f"cityhub/v1/{station}/errors")
        client.publish(topic, {"ts": ts, "pm10": 41.0, "pm25": 18.0})
        wait_for(lambda: len(rows(db, station)) == 2, what="the first reading")
        client.publish(topic, {"ts": ts, "pm10": 41.0, "pm25": 18.0})  # a redelivery
        _marker(db, client, station)
        assert client.replies() == []
        assert dead_letters(db, station) == []

        # pm10 changed, pm25 did not, humidity is new.
        client.publish(topic, {"ts": ts, "pm10": 44.0, "pm25": 18.0, "humidity": 55.0})
        replies = wait_for(client.replies, what="a conflict reply on the errors topic")
    assert count(db, "SELECT count(*)::int FROM hub.telemetry WHERE device_id = %s AND metric = 'pm10'",
                 station) == 1
    assert ("pm10", 41.0) in rows(db, station)
    assert ("humidity", 55.0) in rows(db, station)
    [(reply_topic, reply)] = replies
    assert reply_topic == f"cityhub/v1/{station}/errors"
    assert reply["code"] == "conflict"
    assert reply["topic"] == topic
    key = f"device {station!r}, metric 'pm10', ts {_iso(ts)}"
    assert key in reply["reason"]
    # Only the changed key is named; the message's other keys were not conflicts.
    assert "pm25" not in reply["reason"]
    assert "humidity" not in reply["reason"]
    letters = wait_for(lambda: _conflicts(db, station), what="a conflict dead letter")
    assert [(code, key in str(reason)) for code, reason, _ in letters] == [("conflict", True)]


def test_an_event_with_other_details_at_a_stored_key_is_a_conflict_without_the_plate(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    camera = new_device(db, catalogue, "cctv")
    ts = now_ms() - 30_000
    topic = f"cityhub/v1/{camera}/events"
    event = {"ts": ts, "type": "illegal_parking", "confidence": 0.9, "licence_plate": PLATE,
             "object_class": "car"}

    def stored() -> list[tuple[Any, ...]]:
        return db.execute("SELECT type, confidence, attributes->>'object_class' FROM hub.events "
                          "WHERE device_id = %s", (camera,)).fetchall()

    with device(broker) as client:
        client.subscribe(f"cityhub/v1/{camera}/errors")
        client.publish(topic, event)
        wait_for(stored, what="the event")
        client.publish(topic, event)  # a redelivery
        client.publish(topic, {**event, "confidence": 0.7, "licence_plate": "34나5678",
                               "object_class": "truck"})
        replies = wait_for(client.replies, what="a conflict reply")
        # Nothing else comes: the redelivery before it was silent.
        client.publish(topic, {**event, "ts": ts + 1000, "type": "intrusion"})
        wait_for(lambda: len(stored()) == 2, what="the next event")
        assert len(client.replies()) == 1
    assert sorted(stored()) == [("illegal_parking", pytest.approx(0.9), "car"),
                                ("intrusion", pytest.approx(0.9), "car")]
    [(_, reply)] = replies
    assert reply["code"] == "conflict"
    assert f"device {camera!r}, event type 'illegal_parking', ts {_iso(ts)}" in reply["reason"]
    [(code, reason, payload)] = wait_for(lambda: _conflicts(db, camera), what="the dead letter")
    assert code == "conflict"
    for text in (str(reason), bytes(payload).decode("utf-8", "replace")):
        assert PLATE not in text
        assert "34나5678" not in text


def test_two_values_at_one_key_in_one_message_keep_the_first_and_report_the_message(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    ts = now_ms() - 10_000
    with device(broker) as client:
        client.subscribe(f"cityhub/v1/{station}/errors")
        client.publish(f"cityhub/v1/{station}/telemetry",
                       [{"ts": ts, "pm10": 30.0}, {"ts": ts, "pm10": 31.0}, {"ts": ts + 1, "pm10": 32.0}])
        # And two messages sent back to back, usually planned in one batch.
        client.publish(f"cityhub/v1/{station}/telemetry", {"ts": ts + 2, "so2": 0.004})
        client.publish(f"cityhub/v1/{station}/telemetry", {"ts": ts + 2, "so2": 0.005})
        replies = wait_for(lambda: r if len(r := client.replies()) == 2 else None,
                           what="two conflict replies")
    assert sorted(rows(db, station)) == [("pm10", 30.0), ("pm10", 32.0), ("so2", 0.004)]
    assert [r["code"] for _, r in replies] == ["conflict", "conflict"]
    assert "metric 'pm10'" in replies[0][1]["reason"]
    assert "metric 'so2'" in replies[1][1]["reason"]
    assert len(wait_for(lambda: c if len(c := _conflicts(db, station)) == 2 else None,
                        what="two conflict dead letters")) == 2


# -- the store on its own: which rows of a batch are conflicts --------------------------

@contextmanager
def _store(url: str) -> Iterator[Store]:
    store = Store(url)
    try:
        yield store
    finally:
        store.close()


def test_the_store_returns_exactly_the_rows_whose_key_holds_another_value(
    db: Conn, catalogue: Catalogue, database_url: str
) -> None:
    station = new_device(db, catalogue, "air_quality")
    camera = new_device(db, catalogue, "cctv")
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    event = Event(ts, camera, "crowd", "warning", 0.5, None, {"zone_name": "gate"})
    first = BatchPlan(readings=[(ts, station, "pm10", 1.0), (ts, station, "pm25", 2.0)],
                      events=[event])
    again = BatchPlan(
        readings=[(ts, station, "pm10", 1.0),           # a redelivery
                  (ts, station, "pm25", 2.5),           # another value: a conflict
                  (ts, station, "o3", 0.01),            # new, and then within the batch:
                  (ts, station, "o3", 0.02),            #   a conflict with the row before it
                  (ts, station, "o3", 0.01)],           #   the same value again: silent
        events=[event, Event(ts, camera, "crowd", "warning", 0.5, None, {"zone_name": "exit"})])
    with _store(database_url) as store:
        assert store.write(first) == Conflicts()
        found = store.write(again)
    assert found == Conflicts(readings=((ts, station, "pm25", 2.5), (ts, station, "o3", 0.02)),
                              events=(again.events[1],))
    stored = db.execute("SELECT metric, value FROM hub.telemetry WHERE device_id = %s ORDER BY metric",
                        (station,)).fetchall()
    assert stored == [("o3", 0.01), ("pm10", 1.0), ("pm25", 2.0)]
    # The rollup counts what was stored, once.
    assert count(db, "SELECT sum(n)::int FROM hub.telemetry_1m WHERE device_id = %s", station) == 3


def test_a_replayed_dead_letter_with_another_value_stays_pending_as_a_conflict(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess, database_url: str,
    key_file: object,
) -> None:
    late = f"t-late-{secrets.token_hex(3)}"
    ts = now_ms() - 5_000
    with device(broker) as client:
        client.publish(f"cityhub/v1/{late}/telemetry", {"ts": ts, "pm10": 33.0})
        client.publish(f"cityhub/v1/{late}/telemetry", {"ts": ts, "pm10": 34.0})
    wait_for(lambda: len(dead_letters(db, late)) == 2, what="two unknown_device dead letters")
    add_device(db, catalogue, late, "air_quality")
    _plugins()
    env = {"CITYHUB_DATABASE_URL": database_url, "CITYHUB_PSEUDONYM_KEY_FILE": str(key_file)}
    replayed = CliRunner().invoke(app, ["ingest", "replay", "--device", late], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert rows(db, late) == [("pm10", 33.0)]
    pending = db.execute("SELECT replay_result FROM hub.dead_letters WHERE device_id = %s "
                         "AND replayed_at IS NULL", (late,)).fetchall()
    assert len(pending) == 1
    assert str(pending[0][0]).startswith("still rejected: conflict: a different value is already "
                                         f"stored at device {late!r}, metric 'pm10'")
