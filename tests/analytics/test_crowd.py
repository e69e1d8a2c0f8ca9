"""Crowd density rules (persons per m² of a zone from its cameras' counts): pure, no I/O."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from analytics import backtest
from analytics.engine import Engine, Lifted, Raised, Signal, VersionedRule
from analytics.rules import ReadingRow
from analytics.spec import RuleError, RuleSpec, parse, to_document

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MIGRATION = Path(__file__).parents[2] / "hub" / "migrations" / "0021_crowd_density.sql"
INTERVALS = {"cctv": 60.0}
ZONE = "seoul-station"


def builtin() -> dict[str, RuleSpec]:
    docs = [json.loads(m) for m in re.findall(r"\$json\$(.*?)\$json\$", MIGRATION.read_text(), re.S)]
    return {d["id"]: parse(d) for d in docs}


def counts(values: list[float], camera: str = "cctv-1", zone: str | None = ZONE,
           seconds: float = 60.0) -> list[ReadingRow]:
    return [ReadingRow(T0 + timedelta(seconds=seconds * n), camera, "cctv", zone, "person_count", v)
            for n, v in enumerate(values)]


def feed(spec: RuleSpec, rows: list[ReadingRow], areas: dict[str, float] | None = None) -> list[Signal]:
    engine = Engine([VersionedRule(spec, 1)], INTERVALS, {ZONE: 100.0} if areas is None else areas)
    return engine.feed(sorted(rows, key=lambda r: (r.ts, r.device_id)))


def minute(signal: Signal) -> int:
    ts = signal.occurrence.ts if isinstance(signal, Raised) else signal.ts
    return int((ts - T0).total_seconds() // 60)


def raised(signals: list[Signal]) -> list[Raised]:
    return [s for s in signals if isinstance(s, Raised)]


def test_the_builtin_density_raises_a_warning_at_4_and_a_critical_at_5_persons_per_m2() -> None:
    spec = builtin()["crowd-density"]
    # 100 m²: 300 persons for 5 minutes, then 450 (4.5/m²), then 550 (5.5/m²).
    signals = feed(spec, counts([300.0] * 5 + [450.0] * 5 + [550.0] * 5))
    up = raised(signals)
    # Each level only after a minute at or above it.
    assert minute(up[0]) == 6
    assert up[0].occurrence.severity == "warning"
    assert minute(next(r for r in up if r.occurrence.severity == "critical")) == 11
    assert up[0].occurrence.value == 4.5
    assert up[0].occurrence.alert_type == "crowd"
    assert up[0].agency == "police-112"


def test_the_cameras_of_a_zone_add_up_and_their_newest_counts_count_once() -> None:
    spec = builtin()["crowd-density"]
    # Two cameras of 250 persons each (2.5/m² alone), every minute: 5/m² together.
    rows = counts([250.0] * 5, "cctv-a") + counts([250.0] * 5, "cctv-b")
    up = raised(feed(spec, rows))
    assert up
    assert up[-1].occurrence.value == 5.0
    # The zone's alert stays on its first camera, naming the other.
    assert up[-1].occurrence.device_id == "cctv-a"
    assert up[-1].occurrence.related_devices == ("cctv-b",)


def test_a_zone_without_an_area_has_no_density_and_raises_nothing() -> None:
    spec = builtin()["crowd-density"]
    assert feed(spec, counts([900.0] * 10), areas={}) == []
    assert feed(spec, counts([900.0] * 10, zone=None)) == []


def test_a_camera_silent_past_the_window_no_longer_counts() -> None:
    spec = builtin()["crowd-density"]  # counts are current for 120 s
    # Camera b counts 300 persons at minutes 0-2 and then goes silent; camera a counts 150 on.
    rows = counts([300.0] * 3, "cctv-b") + counts([150.0] * 15, "cctv-a")
    signals = feed(spec, rows)
    values = {minute(r): r.occurrence.value for r in raised(signals)}
    assert values[2] == 4.5
    # Two minutes after its last count (minute 4) the zone holds camera a's 150 persons only,
    # and the alert is lifted after 5 minutes under 3.5.
    assert values[3] == 4.5
    assert values[4] == 1.5
    assert [minute(s) for s in signals if isinstance(s, Lifted)] == [9]


def test_a_fast_rise_is_an_early_warning_a_slow_one_is_not() -> None:
    spec = builtin()["crowd-rising"]  # +1 person/m² within 10 minutes
    fast = [100.0 + 15.0 * n for n in range(12)]  # +1.5/m² in 10 minutes, still far under 4
    slow = [100.0 + 1.0 * n for n in range(120)]  # rush hour: +1.2/m² over two hours
    early = raised(feed(spec, counts(fast)))
    assert early
    assert early[0].occurrence.severity == "warning"
    # Long before the density itself is a warning (under 4/m²: 400 persons on 100 m²).
    assert fast[minute(early[0])] < 400.0
    assert (early[0].occurrence.value or 0.0) >= 1.0
    assert feed(spec, counts(slow)) == []


def test_a_critical_crowd_that_thins_steps_down_to_a_new_warning() -> None:
    spec = builtin()["crowd-density"]
    # 6/m² for 5 minutes, then 4.2/m² (under the critical's lifting point 4.5) for 10.
    signals = feed(spec, counts([600.0] * 5 + [420.0] * 10))
    lifted = [s for s in signals if isinstance(s, Lifted)]
    assert [s.level for s in lifted] == ["crush risk (5 persons/m²)"]
    after = [r for r in raised(signals) if r.occurrence.ts >= lifted[0].ts]
    assert after
    assert {r.occurrence.severity for r in after} == {"warning"}
    # Folded as the alert store folds them: a critical alert, ended, then a warning one.
    folded = backtest.episodes(signals)
    assert [(e.severity, e.lifted_at is not None) for e in folded] == [("critical", True), ("warning", False)]


def test_the_backtest_of_a_density_rule_uses_the_areas_it_is_given() -> None:
    spec = builtin()["crowd-density"]
    frame = pd.DataFrame([(r.ts, r.device_id, r.kind, r.zone, r.metric, r.value)
                          for r in counts([500.0] * 10)], columns=backtest.READING_COLUMNS)
    end = T0 + timedelta(hours=1)
    found = backtest.run(VersionedRule(spec, 1), frame, INTERVALS, start=T0, end=end, areas={ZONE: 100.0})
    assert [(e.severity, e.device_id) for e in found] == [("critical", "cctv-1")]
    assert backtest.run(VersionedRule(spec, 1), frame, INTERVALS, start=T0, end=end) == []


@pytest.mark.parametrize(("change", "field"), [
    ({"window_s": 0}, "window_s"),
    ({"scope": "device"}, "scope"),
    ({"rise_s": -5}, "rise_s"),
    ({"levels": [{"severity": "warning", "above": 5}, {"severity": "critical", "above": 4}]},
     "levels.1.above"),
])
def test_a_wrong_density_rule_is_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    doc = to_document(builtin()["crowd-density"]) | change
    with pytest.raises(RuleError) as refused:
        parse(doc)
    assert refused.value.field == field


def test_a_density_rule_round_trips_through_its_document() -> None:
    for spec in builtin().values():
        assert parse(to_document(spec)) == spec
