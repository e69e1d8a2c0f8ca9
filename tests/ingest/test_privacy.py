"""Personal fields are stored only as pseudonyms; no table ever holds them raw."""

from __future__ import annotations

import pytest
from psycopg import sql

from hub.catalogue import Catalogue
from hub.pseudonym import PseudonymKeys
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, count, new_device, now_ms
from tests.mqtt_client import device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

HOUSEHOLD = "HH-4411-RAW-0001"
PLATE = "12가3456"
TRACK = "track-raw-777"


def all_text(db: Conn) -> str:
    """Every row of every table in the cityhub schemas, as text."""
    tables = db.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('hub', 'anon', 'restricted') AND c.relkind IN ('r', 'm')"
    ).fetchall()
    chunks: list[str] = []
    for schema, name in tables:
        query = sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(str(schema), str(name)))
        chunks.extend(str(r[0]) for r in db.execute(query).fetchall())
        # bytea columns render as hex in ::text; decode dead-letter payloads too.
    chunks.extend(bytes(r[0]).decode("utf-8", "replace")  # type: ignore[call-overload]
                  for r in db.execute("SELECT payload FROM hub.dead_letters").fetchall())
    return "\n".join(chunks)


def test_personal_fields_never_appear_raw_in_any_table(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess, keys: PseudonymKeys
) -> None:
    meter = new_device(db, catalogue, "smart_meter")
    camera = new_device(db, catalogue, "cctv")
    with device(broker) as client:
        client.publish(f"cityhub/v1/{meter}/telemetry",
                       {"ts": now_ms(), "energy_kwh": 1234.5, "household_id": HOUSEHOLD})
        client.publish(f"cityhub/v1/{camera}/events",
                       {"ts": now_ms(), "type": "illegal_parking", "confidence": 0.9,
                        "licence_plate": PLATE, "object_class": "car"})
        client.publish(f"cityhub/v1/{camera}/events",
                       {"ts": now_ms() + 1, "type": "loitering", "track_id": TRACK})
        # Rejected (out of range) but holding a plate: the dead letter must not keep it raw.
        client.publish(f"cityhub/v1/{camera}/events",
                       {"ts": now_ms(), "type": "illegal_parking", "confidence": 7,
                        "licence_plate": PLATE})
        # Not even JSON, but a plate in it all the same.
        client.publish(f"cityhub/v1/{camera}/events", '{"licence_plate": "' + PLATE + '", oops')
    wait_for(lambda: count(db, "SELECT count(*) FROM hub.events WHERE device_id = %s", camera) == 2
             and count(db, "SELECT count(*) FROM hub.dead_letters WHERE device_id = %s", camera) == 2
             and count(db, "SELECT count(*) FROM hub.devices WHERE id = %s AND subject IS NOT NULL",
                       meter) == 1,
             what="events, dead letters and the meter's subject")
    text = all_text(db)
    for raw in (HOUSEHOLD, PLATE, TRACK):
        assert raw not in text
    subject = db.execute("SELECT subject FROM hub.devices WHERE id = %s", (meter,)).fetchone()
    assert subject == (keys.pseudonymise(HOUSEHOLD),)
    plate_rows = db.execute(
        "SELECT subject, attributes->>'object_class' FROM hub.events "
        "WHERE device_id = %s AND type = 'illegal_parking'", (camera,)
    ).fetchall()
    assert plate_rows == [(keys.pseudonymise(PLATE), "car")]
    assert keys.pseudonymise(PLATE) in text
