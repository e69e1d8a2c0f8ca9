"""The smart-meter model: monotonic registers, theft, faults, inactive households."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

from devices.sim.simulator import Simulator
from devices.sim.smart_meter import occupied
from tests.devices.sim_helpers import make, run


def _series(sim: Simulator, hours: float) -> tuple[
        dict[str, list[tuple[float, dict[str, float]]]], Simulator]:
    series: dict[str, list[tuple[float, dict[str, float]]]] = defaultdict(list)
    fleet = list(sim.devices.values())
    for t, message in run(sim, fleet, hours=hours, step_s=900):
        if message.topic.endswith("/telemetry"):
            series[message.topic.split("/")[2]].append((t, json.loads(message.payload)))
    return series, sim


def test_energy_only_grows_except_where_a_meter_fault_was_injected() -> None:
    sim, _ = make(["meters"], {"smart_meter": 40})
    series, _ = _series(sim, hours=48)
    [fault] = [r for r in sim.truth if r.label == "meter_fault"]
    for device_id, readings in series.items():
        drops = [t for (_, a), (t, b) in itertools.pairwise(readings)
                 if b["energy_kwh"] < a["energy_kwh"]]
        if device_id in fault.device_ids:
            assert len(drops) == 1
            assert fault.start <= drops[0] <= fault.end
        else:
            assert drops == [], device_id


def test_theft_lowers_metered_consumption_while_the_home_stays_occupied() -> None:
    stolen, _ = make(["meters"], {"smart_meter": 40})
    honest, _ = make(["normal"], {"smart_meter": 40})
    with_theft, _ = _series(stolen, hours=72)
    without, _ = _series(honest, hours=72)
    thefts = [r for r in stolen.truth if r.label == "theft"]
    assert thefts
    for record in thefts:
        for device_id in record.device_ids:
            profile = stolen.meters.meters[device_id].profile
            window = [t for t, _ in with_theft[device_id] if record.start <= t < record.end]
            # Someone is at home for much of the window, as before the theft.
            assert sum(occupied(profile, t) for t in window) > len(window) / 3
            metered = sum(r["power_kw"] for t, r in with_theft[device_id] if t in window)
            normal = sum(r["power_kw"] for t, r in without[device_id] if t in window)
            assert metered < 0.5 * normal


def test_an_inactive_household_shows_only_its_base_load_for_a_day() -> None:
    sim, _ = make(["meters"], {"smart_meter": 40})
    series, _ = _series(sim, hours=30)
    [record] = [r for r in sim.truth if r.label == "inactive_household"]
    [device_id] = record.device_ids
    meter = sim.meters.meters[device_id]
    assert meter.profile == "single_elderly"
    during = [r["power_kw"] for t, r in series[device_id] if record.start <= t < record.end]
    before = [r["power_kw"] for t, r in series[device_id] if t < record.start]
    assert record.end - record.start == 24 * 3600
    assert max(during) < 2 * meter.base_kw < max(before)


def test_vacant_homes_draw_only_base_load() -> None:
    sim, fleet = make(["normal"], {"smart_meter": 60})
    series, _ = _series(sim, hours=24)
    vacant = [d.id for d in fleet if sim.meters.meters[d.id].profile == "vacant"]
    assert vacant
    for device_id in vacant:
        assert max(r["power_kw"] for _, r in series[device_id]) < 2 * sim.meters.meters[device_id].base_kw
