"""The analytics service as operators run it (`python -m hub analytics`), on real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.catalogue import Catalogue
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, new_device
from tests.mqtt_client import device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


class AnalyticsProcess:
    def __init__(self, database_url: str, log_path: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        self.env["CITYHUB_DATABASE_URL"] = database_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        ready_before = self.log().count("analytics ready")
        with self.log_path.open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "hub", "analytics"], env=self.env,
                                       stdout=log, stderr=subprocess.STDOUT)
        self.process = process
        wait_for(lambda: self.log().count("analytics ready") > ready_before or process.poll() is not None,
                 timeout=30, what="analytics to start")
        assert process.poll() is None, self.log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        assert self.process is None or self.process.returncode == 0, self.log()


@pytest.fixture(scope="module")
def analytics(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyticsProcess]:
    process = AnalyticsProcess(database_url, Path(tmp_path_factory.mktemp("analytics")) / "analytics.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


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


def test_a_published_reading_over_the_threshold_raises_one_alert_and_a_repeat_counts(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess, analytics: AnalyticsProcess,
) -> None:
    station = new_device(db, catalogue, "air_quality", zone="jung-gu")
    now = datetime.now(UTC)
    with device(broker) as client:
        client.publish(f"cityhub/v1/{station}/telemetry",
                       {"ts": now.isoformat(), "pm10": 180.0, "pm25": 20.0})
    wait_for(lambda: alerts_of(db, station), what="an alert from the published reading")
    assert alerts_of(db, station) == [("pm10-high", "warning", 1, "rule", "open", 180.0)]
    with device(broker) as client:
        client.publish(f"cityhub/v1/{station}/telemetry",
                       {"ts": (now + timedelta(seconds=60)).isoformat(), "pm10": 320.0})
    wait_for(lambda: alerts_of(db, station)[0][2] == 2, what="the repeat to be counted")
    assert alerts_of(db, station) == [("pm10-high", "critical", 2, "rule", "open", 320.0)]


def test_readings_under_the_threshold_raise_nothing(db: Conn, catalogue: Catalogue,
                                                    analytics: AnalyticsProcess) -> None:
    station = new_device(db, catalogue, "air_quality")
    marker = new_device(db, catalogue, "air_quality")
    now = datetime.now(UTC)
    store_reading(db, station, now, "pm10", 150.0)
    store_reading(db, station, now, "pm25", 75.0)
    store_reading(db, marker, now, "o3", 0.2)
    wait_for(lambda: alerts_of(db, marker), what="the marker's alert")
    assert alerts_of(db, station) == []


def test_a_notified_reading_raises_and_a_redelivered_notification_changes_nothing(
    db: Conn, catalogue: Catalogue, analytics: AnalyticsProcess,
) -> None:
    meter = new_device(db, catalogue, "smart_meter", zone="jung-gu")
    ts = datetime.now(UTC)
    store_reading(db, meter, ts, "voltage", 262.0)
    wait_for(lambda: alerts_of(db, meter), what="a voltage alert")
    payload = json.dumps({"from": ts.isoformat(), "to": ts.isoformat(), "devices": [meter]})
    db.execute("SELECT pg_notify('hub_telemetry', %s)", (payload,))
    db.execute("SELECT pg_notify('hub_telemetry', 'not json')")
    store_reading(db, meter, ts + timedelta(minutes=15), "voltage", 190.0)
    wait_for(lambda: alerts_of(db, meter)[0][2] == 2, what="the second breach to be counted")
    assert alerts_of(db, meter) == [("voltage-out-of-range", "warning", 2, "rule", "open", 190.0)]


def test_a_cctv_fire_event_raises_a_critical_alert(db: Conn, catalogue: Catalogue,
                                                   analytics: AnalyticsProcess) -> None:
    camera = new_device(db, catalogue, "cctv", zone="jongno-gu", lat=37.5704, lon=126.9831)
    ts = datetime.now(UTC)
    with db.transaction():
        db.execute("INSERT INTO hub.events (ts, device_id, type, severity, confidence) "
                   "VALUES (%s, %s, 'fire', 'critical', 0.93)", (ts, camera))
        db.execute("SELECT pg_notify('hub_events', %s)",
                   (json.dumps({"from": ts.isoformat(), "to": ts.isoformat(), "devices": [camera]}),))
    wait_for(lambda: alerts_of(db, camera), what="a fire alert")
    assert alerts_of(db, camera) == [("event:fire", "critical", 1, "cctv", "open", None)]
    row = db.execute("SELECT alert_type, zone, title FROM hub.alerts WHERE device_id = %s",
                     (camera,)).fetchone()
    assert row == ("fire", "jongno-gu", "Fire detected")


def test_a_restart_catches_up_on_what_it_missed(db: Conn, catalogue: Catalogue, database_url: str,
                                                tmp_path: Path, analytics: AnalyticsProcess) -> None:
    analytics.stop()
    try:
        station = new_device(db, catalogue, "air_quality")
        # Stored while the service was away; its notification went to nobody.
        store_reading(db, station, datetime.now(UTC), "pm25", 90.0)
        assert alerts_of(db, station) == []
    finally:
        analytics.start()
    wait_for(lambda: alerts_of(db, station), what="the missed reading's alert")
    assert alerts_of(db, station) == [("pm25-high", "warning", 1, "rule", "open", 90.0)]
