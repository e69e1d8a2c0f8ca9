"""The analytics service as operators run it (`python -m hub analytics`), on real PostgreSQL."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.catalogue import Catalogue
from tests.fix_analytics import AnalyticsProcess
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, new_device
from tests.mqtt_client import device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def alerts_of(db: Conn, device_id: str) -> list[tuple[object, ...]]:
    return db.execute(
        "SELECT rule_id, severity, count, source, state, value FROM hub.alerts WHERE device_id = %s "
        "ORDER BY id", (device_id,)).fetchall()


def store_reading(db: Conn, device_id: str, ts: datetime, metric: str, value: float, *,
                  notify: bool = True) -> None:
    """What ingest does for one reading: insert and notify in the same transaction."""
    with db.transaction():
        db.execute("INSERT INTO hub.telemetry (ts, device_id, metric, value) VALUES (%s, %s, %s, %s)",
                   (ts, device_id, metric, value))
        if notify:
            payload = {"from": ts.isoformat(), "to": ts.isoformat(), "devices": [device_id]}
            db.execute("SELECT pg_notify('hub_telemetry', %s)", (json.dumps(payload),))


def unique_zone() -> str:
    # Zone rules pool a zone's stations: each test has zones of its own.
    return f"zone-{secrets.token_hex(4)}"


def test_a_published_sharp_pm10_rise_raises_one_alert_and_a_repeat_counts(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess, analytics: AnalyticsProcess,
) -> None:
    station = new_device(db, catalogue, "air_quality", zone=unique_zone())
    now = datetime.now(UTC)
    with device(broker) as client:
        client.publish(f"cityhub/v1/{station}/telemetry", {"ts": now.isoformat(), "pm10": 30.0, "pm25": 20.0})
        client.publish(f"cityhub/v1/{station}/telemetry",
                       {"ts": (now + timedelta(seconds=60)).isoformat(), "pm10": 180.0})
    wait_for(lambda: alerts_of(db, station), what="an alert from the published readings")
    assert alerts_of(db, station) == [("pm10-sudden-rise", "warning", 1, "rule", "open", 150.0)]
    with device(broker) as client:
        client.publish(f"cityhub/v1/{station}/telemetry",
                       {"ts": (now + timedelta(seconds=120)).isoformat(), "pm10": 320.0})
    wait_for(lambda: alerts_of(db, station)[0][2] == 2, what="the repeat to be counted")
    assert alerts_of(db, station) == [("pm10-sudden-rise", "warning", 2, "rule", "open", 290.0)]
    # The alert records the rule version that raised it.
    version = db.execute("SELECT rule_version FROM hub.alerts WHERE device_id = %s", (station,)).fetchone()
    assert version == (1,)


def test_single_readings_over_the_old_thresholds_raise_nothing_now(
    db: Conn, catalogue: Catalogue, analytics: AnalyticsProcess,
) -> None:
    station = new_device(db, catalogue, "air_quality", zone=unique_zone())
    marker = new_device(db, catalogue, "air_quality", zone=unique_zone())
    now = datetime.now(UTC)
    # One PM2.5 reading over 75 is not an advisory (a two-hour mean is); CO has no rule now.
    store_reading(db, station, now, "pm25", 160.0)
    store_reading(db, station, now, "co", 80.0)
    store_reading(db, marker, now, "o3", 0.2)
    wait_for(lambda: alerts_of(db, marker), what="the marker's ozone advisory")
    assert alerts_of(db, marker) == [("o3-ozone-alert", "warning", 1, "rule", "open", 0.2)]
    assert alerts_of(db, station) == []


def test_a_notified_reading_raises_and_a_redelivered_notification_changes_nothing(
    db: Conn, catalogue: Catalogue, analytics: AnalyticsProcess,
) -> None:
    station = new_device(db, catalogue, "air_quality", zone=unique_zone())
    ts = datetime.now(UTC)
    store_reading(db, station, ts, "o3", 0.15)
    wait_for(lambda: alerts_of(db, station), what="an ozone alert")
    payload = json.dumps({"from": ts.isoformat(), "to": ts.isoformat(), "devices": [station]})
    db.execute("SELECT pg_notify('hub_telemetry', %s)", (payload,))
    db.execute("SELECT pg_notify('hub_telemetry', 'not json')")
    store_reading(db, station, ts + timedelta(minutes=1), "o3", 0.45)
    wait_for(lambda: alerts_of(db, station)[0][2] == 2, what="the second reading to be counted")
    # Mean of 0.15 and 0.45 is 0.3: the warning level.
    assert alerts_of(db, station) == [("o3-ozone-alert", "critical", 2, "rule", "open", 0.3)]


def store_event(db: Conn, camera: str, ts: datetime, event_type: str) -> None:
    with db.transaction():
        db.execute("INSERT INTO hub.events (ts, device_id, type, severity, confidence) "
                   "VALUES (%s, %s, %s, 'info', 0.93)", (ts, camera, event_type))
        db.execute("SELECT pg_notify('hub_events', %s)",
                   (json.dumps({"from": ts.isoformat(), "to": ts.isoformat(), "devices": [camera]}),))


def test_a_cctv_fire_event_raises_a_critical_alert_for_119(db: Conn, catalogue: Catalogue,
                                                           analytics: AnalyticsProcess) -> None:
    camera = new_device(db, catalogue, "cctv", zone="jongno-gu", lat=37.5704, lon=126.9831)
    store_event(db, camera, datetime.now(UTC), "fire")
    wait_for(lambda: alerts_of(db, camera), what="a fire alert")
    assert alerts_of(db, camera) == [("cctv-fire:fire", "critical", 1, "cctv", "open", None)]
    row = db.execute("SELECT alert_type, zone, title, suggested_agency, rule_version FROM hub.alerts "
                     "WHERE device_id = %s", (camera,)).fetchone()
    assert row == ("fire", "jongno-gu", "Fire detected", "fire-119", 1)


def test_illegal_parking_goes_to_the_district_office_and_unmapped_events_keep_their_severity(
    db: Conn, catalogue: Catalogue, analytics: AnalyticsProcess,
) -> None:
    camera = new_device(db, catalogue, "cctv", zone="jung-gu")
    now = datetime.now(UTC)
    store_event(db, camera, now, "illegal_parking")
    store_event(db, camera, now, "loitering")
    wait_for(lambda: len(alerts_of(db, camera)) == 2, what="two alerts")
    rows = db.execute("SELECT rule_id, severity, suggested_agency, rule_version FROM hub.alerts "
                      "WHERE device_id = %s ORDER BY rule_id", (camera,)).fetchall()
    assert rows == [("cctv-parking:illegal_parking", "info", "jung-gu-office", 1),
                    ("event:loitering", "warning", None, None)]


def test_a_restart_catches_up_on_what_it_missed(db: Conn, catalogue: Catalogue, database_url: str,
                                                tmp_path: Path, analytics: AnalyticsProcess) -> None:
    analytics.stop()
    try:
        station = new_device(db, catalogue, "air_quality", zone=unique_zone())
        # Stored while the service was away; its notification went to nobody.
        store_reading(db, station, datetime.now(UTC), "o3", 0.2)
        assert alerts_of(db, station) == []
    finally:
        analytics.start()
    wait_for(lambda: alerts_of(db, station), what="the missed reading's alert")
    assert alerts_of(db, station) == [("o3-ozone-alert", "warning", 1, "rule", "open", 0.2)]
