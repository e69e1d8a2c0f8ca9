"""Faults and ground truth: every injection is recorded; payloads pass the hub's validator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.sim.clock import default_start, latest_local, local_hour
from devices.sim.groundtruth import GroundTruthWriter, read_truth
from devices.sim.scenarios import SCENARIOS
from devices.sim.setup import periods
from hub.catalogue import load_catalogue
from hub.pseudonym import ensure_keys
from ingest.messages import Rejection
from ingest.validate import TimeWindow, Validator
from tests.devices.sim_helpers import START, kinds, make, run

COUNTS = {"air_quality": 12, "smart_meter": 30, "cctv": 6}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_injection_of_a_scenario_appears_in_ground_truth(name: str) -> None:
    sim, fleet = make([name], COUNTS)
    run(sim, fleet, hours=8, step_s=60)
    injected = {i.label for i in SCENARIOS[name].injections}
    recorded = {r.label for r in sim.truth}
    assert recorded == injected
    for record in sim.truth:
        assert record.device_ids
        assert record.start <= record.end


def test_the_same_seed_gives_the_same_messages() -> None:
    first = [m for _, m in run(*make(["faults"], COUNTS), hours=1)]
    second = [m for _, m in run(*make(["faults"], COUNTS), hours=1)]
    assert first == second
    other = [m for _, m in run(*make(["faults"], COUNTS, seed=8), hours=1)]
    assert other != first


def _validate(topic: str, payload: bytes, kind: str, validator: Validator, now: datetime
              ) -> str | None:
    """The hub's rejection code for a message, or None when it is accepted."""
    channel = topic.split("/")[3]
    window = TimeWindow.around(now, timedelta(days=3650))
    if channel == "status":
        return None if payload in (b"online", b"offline") else "bad_payload"
    try:
        document = json.loads(payload)
    except ValueError:
        return "malformed_json"
    device_id = topic.split("/")[2]
    if channel == "telemetry":
        result = validator.telemetry(device_id, kind, document, window)
        return result.code if isinstance(result, Rejection) else None
    events = validator.events(device_id, kind, document, window)
    return events.code if isinstance(events, Rejection) else None


def test_simulated_data_passes_the_hubs_validator_and_faults_fail_as_ground_truth_says(
    tmp_path: Path,
) -> None:
    validator = Validator(load_catalogue(), ensure_keys(tmp_path / "keys.json"))
    sim, fleet = make(["faults", "meters", "asian-dust", "station-crowd", "night-fire"], COUNTS)
    kind_of = {d.id: d.kind for d in fleet}
    rejected: dict[str, set[str]] = {}
    messages = run(sim, fleet, hours=30, step_s=300)
    for t, message in messages:
        device_id = message.topic.split("/")[2]
        # The hub judges the future against its own clock: the message's publish time.
        code = _validate(message.topic, message.payload, kind_of[device_id], validator,
                         datetime.fromtimestamp(t, UTC))
        if code is not None:
            rejected.setdefault(device_id, set()).add(code)
    expected: dict[str, set[str]] = {}
    for record in sim.truth:
        if record.label == "malformed":
            expected.setdefault(record.device_ids[0], set()).add(
                str(record.details["expected"]).removeprefix("dead letter: "))
        elif record.label == "clock_skew":
            for device_id in record.device_ids:
                expected.setdefault(device_id, set()).add("future_timestamp")
    assert rejected == expected
    assert sum(1 for _, m in messages if m.topic.endswith("/events")) > 20


def test_ground_truth_is_written_line_by_line_and_appended(tmp_path: Path) -> None:
    path = tmp_path / "truth" / "gt.jsonl"
    sim, fleet = make(["faults"], COUNTS)
    run(sim, fleet, hours=1)
    writer = GroundTruthWriter(path, "r1")
    writer.write(sim.truth[:2])
    assert [r["label"] for r in read_truth(path)] == [r.label for r in sim.truth[:2]]
    writer.write(sim.truth[2:])
    writer.close()
    again = GroundTruthWriter(path, "r2")
    again.write(sim.truth[:1])
    again.close()
    records = read_truth(path)
    assert len(records) == len(sim.truth) + 1
    assert {r["run"] for r in records} == {"r1", "r2"}


def test_faster_runs_replay_the_recent_past_and_never_run_ahead_of_the_clock() -> None:
    now = START + 10 * 86400
    assert default_start(now, 1.0, 60, None) == now
    assert default_start(now, 60.0, 600, None) == now - 36_000
    night = default_start(now, 60.0, 60, "02:00")
    assert local_hour(night) == 2.0
    assert now - 86400 - 3600 < night <= now - 3600
    assert latest_local(now, "00:00") == now  # START is midnight in Seoul


def test_rate_gives_every_device_the_same_period_and_speed_shortens_intervals() -> None:
    _sim, fleet = make(["normal"], COUNTS)
    assert periods(fleet, kinds(), 1.0, 480.0) == {k: 48 / 480 for k in COUNTS}
    assert periods(fleet, kinds(), 60.0, 0.0) == {"air_quality": 1.0, "cctv": 1.0, "smart_meter": 15.0}
