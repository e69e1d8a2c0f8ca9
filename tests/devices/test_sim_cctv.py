"""The CCTV model: Poisson arrivals, a crowd building up, a night-time fire."""

from __future__ import annotations

import json
import random
import statistics

import pytest

from devices.sim.cctv import CctvModel, event_rates, poisson
from devices.sim.fleet import build_fleet
from tests.devices.sim_helpers import START, make, run


@pytest.mark.parametrize("mean", [0.05, 0.7, 4.0, 60.0])
def test_poisson_draws_have_the_right_mean(mean: float) -> None:
    rng = random.Random(11)
    draws = [poisson(rng, mean) for _ in range(20_000)]
    standard_error = (mean / len(draws)) ** 0.5
    assert abs(statistics.fmean(draws) - mean) < 4 * standard_error


def test_event_arrivals_match_the_hourly_rates() -> None:
    fleet = build_fleet({"cctv": 20}, seed=3)
    model = CctvModel(fleet, seed=3)
    rng = random.Random(5)
    counted = expected = 0.0
    t = START + 12 * 3600  # midday: the day-time rates hold for the whole span
    for step in range(1, 181):
        now = t + 60 * step
        for device in fleet:
            _, events = model.report(device.id, now, rng)
            counted += len(events)
            if step > 1:
                expected += sum(event_rates(model.cameras[device.id].site, now).values()) / 60
    first_turn = sum(sum(event_rates(c.site, t).values()) / 60 for c in model.cameras.values())
    expected += first_turn
    assert abs(counted - expected) < 4 * expected**0.5


def test_a_crowd_builds_up_and_raises_crowd_events_inside_the_ground_truth_window() -> None:
    sim, fleet = make(["station-crowd"], {"cctv": 3})
    messages = run(sim, fleet, hours=2)
    [truth] = [r for r in sim.truth if r.label == "crowd_build_up"]
    [camera] = truth.device_ids
    crowd = [json.loads(m.payload) for _, m in messages
             if m.topic == f"cityhub/v1/{camera}/events" and b'"crowd"' in m.payload]
    assert crowd
    assert all(truth.start <= e["ts"] / 1000 <= truth.end for e in crowd)
    counts = [json.loads(m.payload)["person_count"] for _, m in messages
              if m.topic == f"cityhub/v1/{camera}/telemetry"]
    assert max(counts) > 3 * counts[0]


def test_a_night_fire_shows_smoke_then_fire_at_night() -> None:
    sim, fleet = make(["night-fire"], {"cctv": 2}, start=START + 2 * 3600)
    messages = run(sim, fleet, hours=1, start=START + 2 * 3600)
    [truth] = [r for r in sim.truth if r.label == "night_fire"]
    kinds = [json.loads(m.payload)["type"] for _, m in messages
             if m.topic == f"cityhub/v1/{truth.device_ids[0]}/events"]
    assert kinds.index("smoke") < kinds.index("fire")
    assert 2 <= (truth.start - START) / 3600 < 3  # 02:00–03:00 in Seoul
