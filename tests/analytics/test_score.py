"""Scoring against the simulators' ground truth: the matching (pure), and the default scenarios on
a fixed seed through the live evaluator on real PostgreSQL (each anomaly type ≥ 0.7)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.score import truth as truth_io
from analytics.score.harness import Outcome, run_scenarios
from analytics.score.match import LABELS, AlertRow, Injection, Score, score
from hub.catalogue import Catalogue
from hub.errors import InvalidInput
from hub.scratch import scratch_database

T0 = datetime(2026, 3, 2, tzinfo=UTC)
SEED = 7


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def injection(label: str, device: str, start: float, end: float, zone: str = "z1") -> Injection:
    return Injection(label, frozenset({device}), frozenset({zone}), minutes(start), minutes(end))


def alert(n: int, alert_type: str, device: str, at: float, zone: str = "z1") -> AlertRow:
    return AlertRow(n, f"rule-{n}", alert_type, device, zone, minutes(at))


def by_label(scores: list[Score]) -> dict[str, Score]:
    return {s.label: s for s in scores}


def test_an_alert_of_the_expected_type_within_the_window_detects_the_injection() -> None:
    injections = [injection("night_fire", "cam-1", 0, 30), injection("night_fire", "cam-2", 100, 130)]
    alerts = [alert(1, "fire", "cam-1", 5), alert(2, "smoke", "cam-1", 6),
              # Wrong device, wrong type, too late (after the end + 15 minutes of grace):
              alert(3, "fire", "cam-3", 5), alert(4, "intrusion", "cam-2", 101),
              alert(5, "fire", "cam-2", 146)]
    s = by_label(score(injections, alerts))["night_fire"]
    assert (s.injections, s.detected, s.true_positives, s.false_positives) == (2, 1, 2, 2)
    assert s.recall == 0.5
    assert s.precision == 0.5


def test_zone_alerts_match_by_zone_device_faults_only_by_device() -> None:
    injections = [injection("asian_dust", "aq-1", 0, 600, zone="jung"),
                  injection("stuck_value", "aq-2", 0, 120, zone="jung")]
    # The advisory is kept on the zone's first station; a neighbour's fault alert is not the
    # stuck station's.
    alerts = [alert(1, "fine_dust", "aq-0", 200, zone="jung"),
              alert(2, "sensor_fault", "aq-3", 30, zone="jung")]
    s = by_label(score(injections, alerts))
    assert (s["asian_dust"].recall, s["asian_dust"].precision) == (1.0, 1.0)
    assert (s["stuck_value"].recall, s["stuck_value"].precision) == (0.0, 0.0)


def test_an_alert_that_another_types_injection_explains_is_not_a_false_one() -> None:
    # One sensor-fault alert for a drifting station: a true positive of drift, not a false
    # positive of stuck_value or spike (they share the alert type).
    injections = [injection("drift", "aq-1", 0, 600), injection("spike", "aq-9", 0, 60),
                  injection("clock_skew", "aq-5", 0, 10)]
    alerts = [alert(1, "sensor_fault", "aq-1", 90), alert(2, "device_silent", "aq-5", 10)]
    s = by_label(score(injections, alerts))
    assert (s["drift"].true_positives, s["drift"].false_positives) == (1, 0)
    assert (s["spike"].true_positives, s["spike"].false_positives, s["spike"].recall) == (0, 0, 0.0)
    # The silent alert of a station whose clock runs ahead (its readings refused) is explained.
    assert s["dropout"].false_positives == 0
    assert s["dropout"].precision is None


def test_unmatched_alerts_after_the_range_are_not_counted() -> None:
    s = by_label(score([injection("dropout", "aq-1", 0, 30)],
                       [alert(1, "device_silent", "aq-7", 40)], until=minutes(35)))["dropout"]
    assert s.false_positives == 0


def test_a_ground_truth_file_is_read_with_the_zones_of_its_devices(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    records = [{"run": "r", "scenario": "station-crowd", "label": "crowd_build_up", "device_ids": ["cam-1"],
                "start": "2026-03-02T12:05:00.000+00:00", "end": "2026-03-02T13:35:00.000+00:00",
                "details": {}},
               {"run": "r", "scenario": "faults", "label": "malformed", "device_ids": ["aq-1"],
                "start": "2026-03-02T12:00:00.000+00:00", "end": "2026-03-02T12:00:00.000+00:00",
                "details": {}}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    [crowd] = truth_io.injections(truth_io.read_records(path), {"cam-1": "seoul-station"})
    assert crowd.label == "crowd_build_up"
    assert crowd.zones == frozenset({"seoul-station"})
    assert crowd.end - crowd.start == timedelta(minutes=90)
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 1"):
        truth_io.read_records(path)


@pytest.fixture(scope="module")
def outcome(pg_admin_url: str, catalogue: Catalogue) -> Iterator[Outcome]:
    with scratch_database(pg_admin_url, "cityhub_test_score", catalogue) as url:
        yield asyncio.run(run_scenarios(url, catalogue, seeds=[SEED]))


@pytest.mark.integration
@pytest.mark.parametrize("label", LABELS)
def test_every_anomaly_type_scores_at_least_0_7_on_the_default_scenarios(outcome: Outcome,
                                                                         label: str) -> None:
    s = by_label(outcome.scores)[label]
    assert s.injections >= 1, f"the default scenarios inject no {label}"
    assert s.recall is not None, s
    assert s.recall >= 0.7, s
    assert s.precision is not None, s
    assert s.precision >= 0.7, s


@pytest.mark.integration
def test_the_scenarios_ground_truth_names_every_scored_type_and_the_alert_each_expects(
        outcome: Outcome) -> None:
    labels = {r["label"] for r in outcome.records}
    assert set(LABELS) <= labels
    # The ground-truth gap of PM10 spikes: every sensor fault now says which alert it expects.
    for r in outcome.records:
        if r["label"] in ("stuck_value", "drift", "spike", "dropout"):
            assert r["details"].get("expected", "").startswith("alert "), r
