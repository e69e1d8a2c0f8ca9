"""The air-quality model: daily cycles where designed, an Asian-dust day, the spatial field."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime

from devices.sim.air_quality import Station, expected
from devices.sim.clock import local_hour
from devices.sim.fleet import SimDevice, build_fleet
from devices.sim.scenarios import scenario
from devices.sim.simulator import Simulator
from devices.sim.zones import SEOUL
from hub.catalogue import load_catalogue, parse_catalogue
from tests.devices.sim_helpers import START, make, run


def _station(zone_index: int = 1) -> Station:
    zone = SEOUL[zone_index]
    return Station.of(SimDevice("aq-x", "air_quality", zone.name, zone.lat, zone.lon), random.Random(1))


def test_daily_cycles_peak_where_designed() -> None:
    station = _station()
    hours = [START + 3600 * h + 1800 * k for h in range(24) for k in range(2)]
    by_hour: dict[int, dict[str, float]] = {}
    for t in hours:
        by_hour.setdefault(int(local_hour(t)), expected(station, t))
    def peak(metric: str) -> int:
        return max(by_hour, key=lambda h: by_hour[h][metric])
    assert 14 <= peak("o3") <= 16
    assert 14 <= peak("temperature") <= 16
    assert peak("no2") in (7, 8, 9)  # the morning rush is the larger of two peaks
    assert min(by_hour, key=lambda h: by_hour[h]["temperature"]) in (2, 3, 4)


def test_noisy_readings_keep_the_daily_ozone_peak() -> None:
    sim, fleet = make(["normal"], {"air_quality": 3})
    totals: dict[int, list[float]] = defaultdict(list)
    for t, message in run(sim, fleet, hours=24 * 7, step_s=600):
        if message.topic.endswith("/telemetry"):
            totals[int(local_hour(t))].append(json.loads(message.payload)["o3"])
    means = {h: sum(v) / len(v) for h, v in totals.items()}
    assert 14 <= max(means, key=means.__getitem__) <= 16


def test_pm_is_higher_in_the_west_of_the_city() -> None:
    west = next(i for i, z in enumerate(SEOUL) if z.name == "gangseo-gu")
    east = next(i for i, z in enumerate(SEOUL) if z.name == "gangdong-gu")
    assert _station(west).pm > _station(east).pm


def test_an_asian_dust_day_keeps_pm10_above_150_for_hours_as_ground_truth_says() -> None:
    sim, fleet = make(["asian-dust"], {"air_quality": 6})
    pm10: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t, message in run(sim, fleet, hours=14):
        if message.topic.endswith("/telemetry"):
            pm10[message.topic.split("/")[2]].append((t, json.loads(message.payload)["pm10"]))
    [truth] = [r for r in sim.truth if r.label == "asian_dust"]
    assert set(truth.device_ids) == {d.id for d in fleet}
    for device in fleet:
        high = [t for t, value in pm10[device.id] if value > 150]
        assert high, f"{device.id} never saw the dust"
        assert len(high) * 60 >= 4 * 3600  # minutes above 150, one reading a minute
        assert all(truth.start <= t <= truth.end for t in high)
        before = [value for t, value in pm10[device.id] if t < truth.start]
        assert max(before) < 150


def test_ground_truth_times_are_iso_8601() -> None:
    sim, fleet = make(["asian-dust"], {"air_quality": 2})
    run(sim, fleet, hours=1)
    record = json.loads(sim.truth[0].to_json("run-1"))
    assert datetime.fromisoformat(record["start"]) == datetime.fromtimestamp(
        sim.truth[0].start, UTC)
    assert record["label"] == "asian_dust"
    assert record["run"] == "run-1"


def test_readings_stay_inside_the_catalogues_ranges() -> None:
    spec = json.loads(json.dumps(load_catalogue().specs))
    spec["air_quality"]["metrics"]["pm10"]["max"] = 30
    spec["air_quality"]["metrics"]["temperature"]["min"] = 5
    kinds = parse_catalogue(spec).kinds
    fleet = build_fleet({"air_quality": 3}, 7)
    sim = Simulator(fleet, kinds, scenario([]), 7, START)
    pm10, temperature = [], []
    for step in range(48):
        for device in fleet:
            for message in sim.report(device.id, START + 1800 * step):
                reading = json.loads(message.payload)
                pm10.append(reading["pm10"])
                temperature.append(reading["temperature"])
    assert max(pm10) == 30
    assert min(pm10) < 30
    assert min(temperature) == 5
    assert max(temperature) > 5
