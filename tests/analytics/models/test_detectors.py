"""The detectors' pure logic on simulated readings (devices/sim), without a database."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from datetime import UTC, datetime

import pandas as pd
import pytest

from analytics.models import meters
from analytics.models.neighbours import Site, neighbours
from analytics.models.sensor_fault import Calibration, FaultDetector, consensus_z, z_score
from analytics.models.sensor_fault_train import train
from analytics.rules import ReadingRow
from devices.sim.scenarios import Injection
from hub.catalogue import Catalogue
from tests.analytics.models.simdata import SimRun, fleet, households, simulate

H = 3600.0
ZONES = [("za", 37.56, 126.99), ("zb", 37.57, 126.97)]


def reading_rows(run: SimRun) -> list[ReadingRow]:
    zones = {d.id: d.zone for d in run.fleet}
    return [ReadingRow(ts, dev, "air_quality", zones[dev], metric, value)
            for ts, dev, metric, value in sorted(run.rows)]


def sites(run: SimRun) -> dict[str, Site]:
    return {d.id: Site(d.id, d.zone, d.lat, d.lon) for d in run.fleet}


def faults_found(run: SimRun, detector: FaultDetector) -> Counter[tuple[str, str, str]]:
    screened = detector.feed(reading_rows(run))
    return Counter((f.device_id, f.fault, f.metric) for f in screened.findings)


def test_neighbours_are_the_zone_else_the_nearest() -> None:
    near = neighbours([Site("a", "z1", 37.5, 127.0), Site("b", "z1", 37.5, 127.001),
                       Site("c", "z1", 37.5, 127.002), Site("d", "z2", 37.51, 127.0),
                       Site("far", "z3", 35.0, 129.0)])
    assert near["a"] == ("b", "c")
    assert near["d"] == ("a", "b", "c")  # alone in its zone: the nearest within 3 km
    assert near["far"] == ()  # never judged


# At fixed times: the day's hours matter (ozone is low at night).
@pytest.mark.parametrize("now", [
    datetime(2026, 11, 2, hour, 10, tzinfo=UTC).timestamp() for hour in (3, 9, 15, 16, 21)])
def test_spikes_stuck_values_and_drift_are_told_apart_and_dust_is_not_a_fault(
    catalogue: Catalogue, now: float,
) -> None:
    run = simulate(fleet("air_quality", ZONES, 4), catalogue, [
        Injection("spike", "air_quality", 10 * H, 2 * H,
                  params={"metric": "pm10", "probability": 0.2, "factor": 8}),
        Injection("stuck_value", "air_quality", 10 * H, 2 * H, params={"metric": "pm25"}),
        Injection("drift", "air_quality", 6 * H, 12 * H, params={"metric": "o3", "per_hour": 0.004}),
        Injection("asian_dust", "air_quality", 14 * H, 4 * H, devices=0,
                  params={"peak": 260.0, "ramp_s": 2400.0, "speed_kmh": 20.0}),
    ], now - 20 * H, now, 60)
    found = faults_found(run, FaultDetector(sites(run)))
    by_device = {(device, fault, metric) for device, fault, metric in found}
    assert by_device == {(run.devices_with("spike")[0], "spike", "pm10"),
                         (run.devices_with("stuck_value")[0], "stuck_value", "pm25"),
                         (run.devices_with("drift")[0], "drift", "o3")}


def test_a_station_is_judged_by_the_neighbour_most_like_it() -> None:
    cal = Calibration(scale=0.15)
    healthy, other_healthy, drifted = 0.010, 0.011, 0.060  # night-time ozone, ppm
    # The healthy station's neighbours are a healthy one and the drifting one: it agrees with
    # the first. Against their median (here their mean) it would look faulty.
    assert abs(consensus_z(healthy, [other_healthy, drifted], "o3", cal)) < 1
    assert abs(z_score(healthy, statistics.median([other_healthy, drifted]), "o3", cal)) >= 3
    # The drifting station is far from both.
    assert consensus_z(drifted, [healthy, other_healthy], "o3", cal) >= 3
    # A real episode moves everybody: nobody is far off.
    assert abs(consensus_z(0.15, [0.14, 0.16], "o3", cal)) < 1


def test_a_demo_spike_is_withheld_from_the_rules_from_its_second_reading(catalogue: Catalogue) -> None:
    now = time.time()
    run = simulate(fleet("air_quality", ZONES, 3), catalogue, [
        Injection("spike", "air_quality", 0.5 * H, 180, params={"metric": "pm10", "probability": 1.0,
                                                               "factor": 6.0, "at_least": 180.0})],
        now - H, now, 4)
    spiking = run.devices_with("spike")[0]
    screened = FaultDetector(sites(run)).feed(reading_rows(run))
    assert [(f.device_id, f.fault) for f in screened.findings] == [(spiking, "spike")]
    passed = [r for r in screened.kept if r.device_id == spiking and r.metric == "pm10"]
    assert max(r.value for r in passed) < 150  # no spike reading reached the PM10 rules


def test_a_trained_model_keeps_a_city_wide_episode_an_episode(catalogue: Catalogue) -> None:
    now = time.time()
    stations = fleet("air_quality", ZONES, 3)
    clean = simulate(stations, catalogue, [], now - 48 * H, now - 12 * H, 60)
    history = pd.DataFrame(clean.rows, columns=["ts", "device_id", "metric", "value"])
    history["minute"] = history["ts"].dt.floor("min")
    model, scores = train(history, sites(clean))
    assert scores["stations"] == 6
    assert scores["spike_share"] < 0.001
    episode = simulate(stations, catalogue, [
        Injection("asian_dust", "air_quality", H, 4 * H, devices=0,
                  params={"peak": 320.0, "ramp_s": 1800.0, "speed_kmh": 20.0}),
        Injection("spike", "air_quality", 5.5 * H, H,
                  params={"metric": "pm10", "probability": 0.3, "factor": 8})],
        now - 12 * H, now, 60)
    found = faults_found(episode, FaultDetector(sites(episode), model))
    assert set(found) == {(episode.devices_with("spike")[0], "spike", "pm10")}


def hourly_frame(run: SimRun) -> pd.DataFrame:
    data = pd.DataFrame(run.rows, columns=["ts", "device_id", "metric", "value"])
    data["hour"] = data["ts"].dt.floor("h")
    zones = {d.id: d.zone for d in run.fleet}
    g = data.pivot_table(index=["device_id", "hour"], columns="metric", values="value",
                         aggfunc=["mean", "min", "max", "count"])
    ids = [i[0] for i in g.index]
    return pd.DataFrame({
        "device_id": ids, "zone": [zones[i] for i in ids], "hour": [i[1] for i in g.index],
        "kw": g[("mean", "power_kw")].to_numpy(), "n": g[("count", "power_kw")].to_numpy(),
        "v_mean": g[("mean", "voltage")].to_numpy(), "v_min": g[("min", "voltage")].to_numpy(),
        "e_min": g[("min", "energy_kwh")].to_numpy(), "e_max": g[("max", "energy_kwh")].to_numpy()})


@pytest.fixture(scope="module")
def meter_run(catalogue: Catalogue) -> tuple[SimRun, float]:
    # A fixed time: 40 minutes into an hour, so that the current hour holds readings (every
    # 15 min) and the check below of findings dated within it applies; and a weekday (in KST)
    # after two weekdays, so that the three days hold a baseline of the same day type for the
    # theft window (on a Monday or a Saturday they would not, and no theft can be judged).
    now = datetime(2026, 11, 26, 16, 40, tzinfo=UTC).timestamp()
    days = 3 * 24 * H
    run = simulate(
        households(("jung-gu", 37.56, 126.99), {"single_elderly": 8, "vacant": 8}), catalogue, [
        Injection("theft", "smart_meter", days - 4 * H, 5 * H, params={"factor": 0.25}),
        Injection("meter_fault", "smart_meter", days - 1.5 * H, 2 * H),
        Injection("inactive_household", "smart_meter", days - 26 * H, 30 * H, devices=2)],
        now - days, now, 900)
    return run, now


def test_theft_a_meter_fault_and_a_welfare_check_only_with_consent(meter_run: tuple[SimRun, float]) -> None:
    run, now = meter_run
    watched, unwatched = run.devices_with("inactive_household")
    consent = meters.Consent(watched, datetime(2026, 1, 5, tzinfo=UTC), "resident", "care programme form")
    at = datetime.fromtimestamp(now, UTC)
    findings = meters.scan(hourly_frame(run), at, {watched: consent})
    # Within the current hour, not at its end: no alert is dated in the future.
    assert max(f.ts for f in findings) == at
    assert {(f.device_id, f.kind) for f in findings} - {(unwatched, "theft")} == {
        (run.devices_with("theft")[0], "theft"), (run.devices_with("meter_fault")[0], "meter_fault"),
        (watched, "welfare")}
    welfare = next(f for f in findings if f.kind == "welfare")
    assert welfare.consent == consent
    assert "2026-01-05" in consent.text
    # Nobody consented to watch the other inactive home: no welfare check (its drop may read as
    # a suspected theft, for the utility to look at).
    assert (unwatched, "welfare") not in {(f.device_id, f.kind) for f in findings}


def test_a_shorter_welfare_window_needs_less_history(meter_run: tuple[SimRun, float]) -> None:
    run, now = meter_run
    watched = run.devices_with("inactive_household")[0]
    frame = hourly_frame(run)
    recent = frame[frame["hour"] >= pd.Timestamp(now, unit="s", tz="UTC").floor("h") - pd.Timedelta(hours=5)]
    consent = meters.Consent(watched, datetime(2026, 1, 5, tzinfo=UTC), "resident", "form")
    at = datetime.fromtimestamp(now, UTC)
    assert not any(f.kind == "welfare" for f in meters.scan(recent, at, {watched: consent}))
    short = meters.scan(recent, at, {watched: consent}, meters.MeterParams(welfare_hours=4))
    assert (watched, "welfare") in {(f.device_id, f.kind) for f in short}


def test_a_scan_on_the_hour_judges_theft_on_the_last_complete_hours(
        meter_run: tuple[SimRun, float]) -> None:
    # The live service scans every minute, the scoring harness on the hour: then the new hour
    # has no reading yet, and the theft window must be the hours before it.
    run, now = meter_run
    thief = run.devices_with("theft")[0]
    top = pd.Timestamp(now, unit="s", tz="UTC").floor("h")
    frame = hourly_frame(run)
    before = frame[frame["hour"] < top]
    found = meters.scan(before, top.to_pydatetime(), {})
    assert (thief, "theft") in {(f.device_id, f.kind) for f in found}
