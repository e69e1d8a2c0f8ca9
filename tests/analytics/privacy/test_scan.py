"""The open-schema scan: finds planted personal values, and none in the migrated anon schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from analytics.privacy.errors import PrivacyError
from analytics.privacy.scan import PATTERNS, scan_open_schema
from hub.catalogue import Catalogue
from hub.pseudonym import ensure_keys
from ingest.validate import TimeWindow, Validator
from tests.helpers import Conn, count, new_device

pytestmark = pytest.mark.integration

PLATE, TRACK, HOUSEHOLD = "12가3456", "trk-00c0ffee", "HH-00ab12cd34"


@pytest.fixture
def personal_data(db: Conn, catalogue: Catalogue, tmp_path: Path) -> None:
    """CCTV events with a plate and a track, and a meter's household, stored as ingest
    stores them (pseudonymised) in hub, which the anon views read from."""
    keys = ensure_keys(tmp_path / "keys.json")
    validator = Validator(catalogue, keys)
    now = datetime.now(UTC).replace(microsecond=0)
    window = TimeWindow.around(now, timedelta(days=30))
    camera = new_device(db, catalogue, "cctv", zone="jung-gu", lat=37.56, lon=126.99)
    meter = new_device(db, catalogue, "smart_meter", zone="jung-gu")
    events = validator.events(camera, "cctv", [
        {"ts": (now - timedelta(minutes=10)).isoformat(), "type": "illegal_parking", "licence_plate": PLATE},
        {"ts": (now - timedelta(minutes=5)).isoformat(), "type": "loitering", "track_id": TRACK,
         "zone_name": "gate"},
    ], window)
    assert isinstance(events, list), events
    for e in events:
        db.execute("INSERT INTO hub.events (ts, device_id, type, severity, confidence, subject, attributes) "
                   "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                   (e.ts, e.device_id, e.type, e.severity, e.confidence, e.subject, Jsonb(e.attributes)))
    readings = validator.telemetry(meter, "smart_meter", {"ts": now.isoformat(), "power_kw": 1.2,
                                                          "household_id": HOUSEHOLD}, window)
    assert isinstance(readings, tuple), readings
    db.execute("UPDATE hub.devices SET subject = %s WHERE id = %s", (readings[1], meter))


@pytest.fixture
def leak(db: Conn) -> Iterator[str]:
    db.execute("CREATE TABLE anon.scan_test_leak (zone text, note jsonb, tags text[], n int)")
    try:
        yield "anon.scan_test_leak"
    finally:
        db.execute("DROP TABLE anon.scan_test_leak")


@pytest.mark.usefixtures("personal_data")
def test_the_migrated_open_schema_is_clean_while_hub_holds_pseudonyms(db: Conn) -> None:
    assert count(db, "SELECT count(*) FROM anon.cctv_event_counts") >= 2  # the views have rows
    assert scan_open_schema(db) == []
    # Not vacuous: the same scan over the pseudonymised zone sees the pseudonyms there.
    in_hub = {(f.relation, f.column, f.pattern) for f in scan_open_schema(db, schema="hub")}
    assert ("hub.events", "subject", "pseudonym") in in_hub
    assert ("hub.devices", "subject", "pseudonym") in in_hub
    assert not [f for f in in_hub if f[2] in ("licence_plate", "household_id", "track_id")]


@pytest.mark.parametrize(("value", "pattern"), [
    (PLATE, "licence_plate"), ("서울 123가4567", "licence_plate"), (HOUSEHOLD, "household_id"),
    (TRACK, "track_id"), ("pn3_0123456789abcdef0123456789abcdef", "pseudonym"),
    ("010-1234-5678", "phone"), ("02-123-4567", "phone"), ("900101-1234567", "rrn"),
    ("김민준", "name"), ("남궁민수", "name"),
])
def test_a_planted_value_is_found_where_it_is(db: Conn, leak: str, value: str, pattern: str) -> None:
    db.execute("INSERT INTO anon.scan_test_leak VALUES ('jung-gu', '{}', NULL, 1), (%s, NULL, NULL, 2)",
               (value,))
    found = [f for f in scan_open_schema(db) if f.relation == leak]
    assert [(f.column, f.pattern, f.rows) for f in found] == [("zone", pattern, 1)]
    assert value not in str(found[0])  # a finding never repeats the value


def test_values_inside_json_and_arrays_are_found(db: Conn, leak: str) -> None:
    db.execute("INSERT INTO anon.scan_test_leak VALUES ('x', %s, %s, 1)",
               (Jsonb({"who": "이서연", "tel": "01012345678"}), [HOUSEHOLD]))
    found = {(f.column, f.pattern) for f in scan_open_schema(db) if f.relation == leak}
    assert found == {("note", "name"), ("note", "phone"), ("tags", "household_id")}


def test_ordinary_values_are_not_findings(db: Conn, leak: str) -> None:
    ordinary = ["jung-gu", "mapo-gu/hapjeong", "2026-05-01T10:00:00+00:00", "meter-jung-0001",
                "illegal_parking", "family", "pm25 12.5 µg/m³", "서울특별시 중구", "12345678901234"]
    with db.cursor() as cur:
        cur.executemany("INSERT INTO anon.scan_test_leak VALUES (%s, %s, NULL, 1)",
                        [(v, Jsonb({"v": v})) for v in ordinary])
    assert [f for f in scan_open_schema(db) if f.relation == leak] == []
    assert set(PATTERNS) == {"licence_plate", "household_id", "track_id", "pseudonym", "phone", "rrn", "name"}


def test_a_view_that_cannot_be_read_is_an_error_not_a_clean_bill(db: Conn, leak: str) -> None:
    db.execute("CREATE VIEW anon.scan_test_broken AS "
               "SELECT zone, (1 / (n - n))::text AS boom FROM anon.scan_test_leak")
    db.execute("INSERT INTO anon.scan_test_leak VALUES ('x', NULL, NULL, 1)")
    try:
        with pytest.raises(PrivacyError, match=r"Cannot scan anon\.scan_test_broken"):
            scan_open_schema(db)
    finally:
        db.execute("DROP VIEW anon.scan_test_broken")

