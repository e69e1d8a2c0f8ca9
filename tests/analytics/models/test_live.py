"""The detectors in the live analytics service (`python -m hub analytics`) on real PostgreSQL:
simulated history is written to the hub, the service started, and its alerts read back."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from devices.sim.scenarios import Injection
from hub.catalogue import Catalogue
from hub.welfare import record_consent
from tests.analytics.models.simdata import SimRun, fleet, households, simulate, store
from tests.analytics.test_rules_live import cityhub as rules_cli
from tests.fix_analytics import AnalyticsProcess
from tests.helpers import Conn
from tests.waiting import wait_for

pytestmark = pytest.mark.integration
H = 3600.0


class World:
    def __init__(self, spike: SimRun, dust: SimRun, meters: SimRun) -> None:
        self.spike, self.dust, self.meters = spike, dust, meters


@pytest.fixture(scope="module")
def world(database_url: str, catalogue: Catalogue, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[tuple[World, AnalyticsProcess]]:
    import psycopg

    now = time.time()
    spike = simulate(fleet("air_quality", [("zone-spike", 37.56, 126.99)], 3), catalogue, [
        Injection("spike", "air_quality", 0.5 * H, 600, params={"metric": "pm10", "probability": 1.0,
                                                               "factor": 6.0, "at_least": 180.0})],
        now - H, now, 30)
    dust = simulate(fleet("air_quality", [("zone-dust", 37.57, 126.97)], 3), catalogue, [
        Injection("asian_dust", "air_quality", 0.5 * H, H, devices=0,
                  params={"peak": 300.0, "ramp_s": 480.0, "speed_kmh": 2000.0})], now - H, now, 30)
    # Eight days: the theft window's baseline is the same hour of the same day type (KST
    # weekday or weekend) on earlier days, which three days lack on a Monday or a Saturday.
    days = 8 * 24 * H
    meters = simulate(
        households(("jung-gu", 37.56, 126.99), {"single_elderly": 8, "vacant": 8}), catalogue, [
        Injection("theft", "smart_meter", days - 4 * H, 5 * H, params={"factor": 0.25}),
        Injection("meter_fault", "smart_meter", days - 1.5 * H, 2 * H),
        Injection("inactive_household", "smart_meter", days - 26 * H, 30 * H, devices=2)],
        now - days, now, 900)
    with psycopg.connect(database_url, autocommit=True) as db:
        for run in (spike, dust, meters):
            store(db, catalogue, run)
        record_consent(db, meters.devices_with("inactive_household")[0],
                       given_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC), given_by="resident",
                       basis="care programme enrolment form", actor="test")
    process = AnalyticsProcess(database_url, Path(tmp_path_factory.mktemp("models")) / "analytics.log")
    process.start()
    try:
        yield World(spike, dust, meters), process
    finally:
        process.stop()


def alerts(db: Conn, device_id: str) -> list[tuple[object, ...]]:
    return db.execute("SELECT rule_id, alert_type, suggested_agency, title, id FROM hub.alerts "
                      "WHERE device_id = %s ORDER BY id", (device_id,)).fetchall()


def test_the_spiking_station_raises_a_sensor_fault_and_no_pm10_stream(
        db: Conn, world: tuple[World, AnalyticsProcess]) -> None:
    w, _ = world
    spiking = w.spike.devices_with("spike")[0]
    wait_for(lambda: alerts(db, spiking), timeout=60, what="the sensor-fault alert")
    raised = alerts(db, spiking)
    assert [(r[0], r[1], r[2]) for r in raised] == [("sensor-fault", "sensor_fault", "maintenance")]
    assert "PM10" in str(raised[0][3])
    for other in set(w.spike.devices_with("spike")) ^ {d.id for d in w.spike.fleet}:
        assert alerts(db, other) == []


def test_a_rule_added_while_a_station_is_flagged_replays_history_without_its_readings(
        db: Conn, database_url: str, tmp_path: Path, world: tuple[World, AnalyticsProcess]) -> None:
    # A new rule is brought up to date from the last hour; the spiking station is still flagged
    # (for 30 min after its last spike), so its spikes must not reach the rule on replay either.
    w, _ = world
    spiking = w.spike.devices_with("spike")[0]
    wait_for(lambda: alerts(db, spiking), timeout=60, what="the sensor-fault alert")
    rule_id = f"pm10-replay-{secrets.token_hex(3)}"
    doc = {"id": rule_id, "kind": "threshold", "title": "PM10 over 150 (replay test)",
           "alert_type": "air_quality", "metric": "pm10", "device_kind": "air_quality",
           "window_s": 60, "levels": [{"severity": "warning", "above": 150, "for_s": 0,
                                       "clear_below": 100, "clear_for_s": 3600}]}
    (tmp_path / "rule.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert rules_cli(database_url, "add", str(tmp_path / "rule.yaml")).returncode == 0
    try:
        # The dust zone's stations read 300 µg/m³: the rule is live once they have its alert.
        dusty = [d.id for d in w.dust.fleet]
        wait_for(lambda: all(rule_id in {r[0] for r in alerts(db, s)} for s in dusty),
                 timeout=60, what="the new rule's alerts in the dust zone")
        assert rule_id not in {r[0] for r in alerts(db, spiking)}
    finally:
        assert rules_cli(database_url, "disable", rule_id).returncode == 0


def test_neighbours_rising_together_is_an_episode_not_a_fault(
        db: Conn, world: tuple[World, AnalyticsProcess]) -> None:
    w, _ = world
    stations = [d.id for d in w.dust.fleet]
    wait_for(lambda: all(alerts(db, s) for s in stations), timeout=60, what="the episode's alerts")
    rules = {str(r[0]) for s in stations for r in alerts(db, s)}
    assert "pm10-sudden-rise" in rules
    assert "sensor-fault" not in rules


def test_theft_a_meter_fault_and_a_welfare_check_with_its_consent(
        db: Conn, world: tuple[World, AnalyticsProcess]) -> None:
    w, _ = world
    thief, broken = w.meters.devices_with("theft")[0], w.meters.devices_with("meter_fault")[0]
    watched, unwatched = w.meters.devices_with("inactive_household")
    wait_for(lambda: alerts(db, thief) and alerts(db, broken) and alerts(db, watched), timeout=60,
             what="the meters' alerts")
    assert [(r[0], r[2]) for r in alerts(db, thief)] == [("suspected-theft", "utility")]
    assert [(r[0], r[2]) for r in alerts(db, broken)] == [("meter-anomaly", "utility")]
    welfare = alerts(db, watched)
    assert [(r[0], r[1], r[2]) for r in welfare] == [("welfare-check", "welfare_check", "jung-gu-welfare")]
    assert "consent on file since 2026-03-02" in str(welfare[0][3])
    notes = db.execute("SELECT details->>'text' FROM hub.alert_changes "
                       "WHERE alert_id = %s AND action = 'note'", (welfare[0][4],)).fetchall()
    assert notes == [("Welfare check consent: given 2026-03-02 by resident; basis: care programme "
                      "enrolment form.",)]
    assert "welfare-check" not in {r[0] for r in alerts(db, unwatched)}  # no consent, no watching
    quiet = {d.id for d in w.meters.fleet} - {thief, broken, watched, unwatched}
    assert [d for d in quiet if alerts(db, d)] == []


def test_retraining_while_the_service_runs_switches_models_without_a_restart(
        world: tuple[World, AnalyticsProcess]) -> None:
    _, process = world
    done = subprocess.run([sys.executable, "-m", "hub", "analytics", "train", "--json"], env=process.env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    trained = {m["name"]: m for m in map(json.loads, done.stdout.splitlines())}
    assert {"sensor-fault", "meter-anomaly"} <= set(trained)  # and the forecast, given history
    assert trained["sensor-fault"]["scores"]["stations"] >= 6
    assert trained["meter-anomaly"]["scores"]["meters"] >= 16
    wait_for(lambda: all(f"using model {m['name']} version {m['version']}" in process.log()
                         for name, m in trained.items() if name in ("sensor-fault", "meter-anomaly")),
             timeout=45, what="the service to load the new models")
    assert process.process is not None
    assert process.process.poll() is None
    listed = subprocess.run([sys.executable, "-m", "hub", "analytics", "models", "--json"], env=process.env,
                            capture_output=True, text=True, timeout=60, check=True)
    names = {(m["name"], m["version"]) for m in map(json.loads, listed.stdout.splitlines())}
    assert {(m["name"], m["version"]) for m in trained.values()} <= names
