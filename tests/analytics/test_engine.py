"""Rule documents and the engine that evaluates them: pure, no I/O."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analytics import backtest
from analytics.cai import category, station_category
from analytics.engine import Engine, Lifted, Raised, Signal, VersionedRule
from analytics.rules import EventRow, ReadingRow
from analytics.spec import RuleError, RuleSpec, parse, to_document

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
MIGRATION = Path(__file__).parents[2] / "hub" / "migrations" / "0016_rules.sql"
INTERVALS = {"air_quality": 60.0, "cctv": 60.0, "smart_meter": 900.0}


def builtin() -> dict[str, RuleSpec]:
    docs = [json.loads(m) for m in re.findall(r"\$json\$(.*?)\$json\$", MIGRATION.read_text(), re.S)]
    return {d["id"]: parse(d) for d in docs}


def engine(*specs: RuleSpec) -> Engine:
    return Engine([VersionedRule(s, 1) for s in specs], INTERVALS)


def minutes(values: list[float], device: str = "aq-1", metric: str = "pm25", zone: str | None = "jung-gu",
            start: datetime = T0) -> list[ReadingRow]:
    """One reading a minute."""
    return [ReadingRow(start + timedelta(minutes=n), device, "air_quality", zone, metric, v)
            for n, v in enumerate(values)]


def at(signal: Signal) -> int:
    """Minutes after T0."""
    ts = signal.occurrence.ts if isinstance(signal, Raised) else signal.ts
    return int((ts - T0).total_seconds() // 60)


def first_raised(signals: list[Signal]) -> Raised:
    return next(s for s in signals if isinstance(s, Raised))


def lifts(signals: list[Signal]) -> list[Lifted]:
    return [s for s in signals if isinstance(s, Lifted)]


SIMPLE: dict[str, Any] = {
    "id": "pm25-test", "kind": "threshold", "title": "t", "alert_type": "air_quality", "metric": "pm25",
    "window_s": 0, "levels": [{"severity": "warning", "above": 50, "for_s": 600, "clear_below": 40,
                               "clear_for_s": 300}]}


def test_the_built_in_rules_parse_and_round_trip() -> None:
    rules = builtin()
    assert set(rules) >= {"pm25-fine-dust", "pm10-fine-dust", "o3-ozone-alert", "pm10-sudden-rise",
                          "cctv-fire", "cctv-police", "cctv-parking"}
    for spec in rules.values():
        assert parse(to_document(spec)) == spec


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "median"}, "kind"),
    ({"levels": []}, "levels"),
    ({"levels": [{"severity": "loud", "above": 1}]}, "levels.0.severity"),
    ({"levels": [{"severity": "warning"}]}, "levels.0.above"),
    ({"levels": [{"severity": "warning", "above": 5, "clear_below": 9}]}, "levels.0.clear_below"),
    ({"levels": [{"severity": "warning", "above": 5}, {"severity": "critical", "above": 4}]},
     "levels.1.above"),
    ({"window_s": -1}, "window_s"),
    ({"window_s": "an hour"}, "window_s"),
    ({"metric": None}, "metric"),
    ({"id": "Bad Id"}, "id"),
    ({"id": "cai"}, "id"),
    ({"colour": "red"}, "colour"),
    ({"scope": "city"}, "scope"),
])
def test_a_wrong_rule_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleError) as refused:
        parse({**SIMPLE, **change})
    assert refused.value.field == field


def test_a_threshold_raises_after_its_duration_and_clears_after_its_own() -> None:
    # 50+ from minute 5; raised 10 minutes later; below 40 from minute 33; lifted 5 minutes later.
    values = [30.0] * 5 + [60.0] * 25 + [45.0] * 3 + [35.0] * 10
    signals = engine(parse(SIMPLE)).feed(minutes(values))
    assert at(first_raised(signals)) == 15
    # 45 is under the raising level but not under the lifting level: still raised.
    assert [at(s) for s in lifts(signals)] == [38]
    assert all(at(s) < 38 for s in signals if isinstance(s, Raised))


def test_a_dip_shorter_than_the_duration_does_not_raise() -> None:
    values = [60.0] * 9 + [30.0] + [60.0] * 9
    assert engine(parse(SIMPLE)).feed(minutes(values)) == []


def test_pm25_advisory_after_two_hours_of_hourly_mean_warning_lifted_into_advisory() -> None:
    spec = builtin()["pm25-fine-dust"]
    values = [80.0] * 120 + [160.0] * 200 + [50.0] * 90 + [20.0] * 90
    signals = engine(spec).feed(minutes(values))
    raised = [s for s in signals if isinstance(s, Raised)]
    assert at(raised[0]) == 120
    assert raised[0].occurrence.severity == "warning"
    # The hourly mean reaches 150 at minute 172 (52 of 60 readings at 160): warning two hours on.
    assert at(next(r for r in raised if r.occurrence.severity == "critical")) == 292
    # The warning is lifted into the advisory (mean < 75, ≥ 35): the warning ends and the
    # advisory is raised anew (an alert's severity never goes down); it is lifted below 35.
    stepped, lifted = lifts(signals)
    assert stepped.level == "warning (경보)"
    after = [r for r in raised if at(r) >= at(stepped)]
    assert after
    assert all(r.occurrence.severity == "warning" for r in after)
    assert lifted.level == "advisory (주의보)"
    assert at(stepped) < at(lifted)
    assert 410 < at(lifted) < 500


def test_a_zone_rule_pools_its_stations_and_keeps_the_alert_on_the_first() -> None:
    spec = builtin()["o3-ozone-alert"]
    rows = sorted(minutes([0.2] * 5, "aq-2", "o3") + minutes([0.1] * 5, "aq-1", "o3"),
                  key=lambda r: (r.ts, r.device_id))
    raised = first_raised(engine(spec).feed(rows))
    assert (raised.occurrence.device_id, raised.occurrence.related_devices) == ("aq-1", ("aq-2",))
    assert raised.occurrence.value == pytest.approx(0.15)
    assert raised.agency == "district"


def test_a_sharp_rise_raises_at_once_and_clears_after_ten_quiet_minutes() -> None:
    spec = builtin()["pm10-sudden-rise"]
    values = [30.0] * 10 + [200.0] * 5 + [35.0] * 30
    signals = engine(spec).feed(minutes(values, metric="pm10"))
    assert at(first_raised(signals)) == 10
    # The rise is measured against the window's lowest value: clear once the window is quiet.
    assert [at(s) for s in lifts(signals)] == [25]


def test_replayed_readings_change_nothing() -> None:
    e = engine(parse(SIMPLE))
    rows = minutes([60.0] * 12)
    first = e.feed(rows)
    assert first
    assert e.feed(rows) == []


def test_absence_is_raised_when_the_silence_passes_and_lifted_when_data_returns() -> None:
    spec = parse({"id": "silent", "kind": "absence", "title": "Silent", "alert_type": "device_silent",
                  "device_kind": "air_quality", "factor": 5})
    e = engine(spec)
    assert e.feed(minutes([1.0, 1.0])) == []
    assert e.tick(T0 + timedelta(minutes=5)) == []
    [raised] = e.tick(T0 + timedelta(minutes=7))
    assert isinstance(raised, Raised)
    assert at(raised) == 6
    assert e.tick(T0 + timedelta(minutes=8)) == []
    [lifted] = e.feed(minutes([1.0], start=T0 + timedelta(minutes=9)))
    assert isinstance(lifted, Lifted)
    assert at(lifted) == 9


def test_a_gap_in_history_is_found_without_ticks() -> None:
    spec = parse({"id": "silent", "kind": "absence", "title": "Silent", "alert_type": "device_silent",
                  "device_kind": "air_quality", "factor": 2})
    rows = minutes([1.0]) + minutes([1.0], start=T0 + timedelta(minutes=10))
    signals = engine(spec).feed(rows)
    assert [(type(s).__name__, at(s)) for s in signals] == [("Raised", 2), ("Lifted", 10)]


def test_cctv_events_map_to_severity_agency_and_sop() -> None:
    rules = builtin()
    e = engine(rules["cctv-fire"], rules["cctv-police"], rules["cctv-parking"])
    rows = [EventRow(T0, "cam-1", "cctv", "jung-gu", t, "info")
            for t in ("smoke", "violence", "illegal_parking", "loitering")]
    found = [(s.occurrence.rule_id, s.occurrence.alert_type, s.occurrence.severity, s.agency)
             for s in e.events(rows) if isinstance(s, Raised)]
    assert found == [("cctv-fire:smoke", "smoke", "critical", "fire-119"),
                     ("cctv-police:violence", "violence", "critical", "police-112"),
                     ("cctv-parking:illegal_parking", "illegal_parking", "info", "district")]
    assert not e.mapped(rows[3])
    assert e.mapped(rows[0])


def test_a_zone_composite_raises_on_the_share_of_devices_above() -> None:
    spec = parse({"id": "share", "kind": "zone_composite", "title": "Zone", "alert_type": "air_quality",
                  "metric": "pm10", "window_s": 300, "value": 100, "min_devices": 3,
                  "levels": [{"severity": "warning", "above": 0.5}]})
    rows = sorted(minutes([150.0] * 3, "a", "pm10") + minutes([150.0] * 3, "b", "pm10")
                  + minutes([20.0] * 3, "c", "pm10"), key=lambda r: (r.ts, r.device_id))
    raised = first_raised(engine(spec).feed(rows))
    assert raised.occurrence.value == pytest.approx(2 / 3)
    assert (raised.occurrence.device_id, raised.occurrence.related_devices) == ("a", ("b",))


def test_backtest_over_a_frame_folds_signals_like_the_alert_store() -> None:
    rows = minutes([30.0] * 5 + [60.0] * 25 + [35.0] * 10 + [60.0] * 12)
    frame = pd.DataFrame([(r.ts, r.device_id, r.kind, r.zone, r.metric, r.value) for r in rows],
                         columns=backtest.READING_COLUMNS)
    found = backtest.run(VersionedRule(parse(SIMPLE), 3), frame, INTERVALS, start=T0,
                         end=T0 + timedelta(hours=1))
    assert [(e.count, at_min(e.first_seen), e.lifted_at and at_min(e.lifted_at)) for e in found] == [
        (20, 15, 35), (2, 50, None)]


def at_min(ts: datetime) -> int:
    return int((ts - T0).total_seconds() // 60)


@pytest.mark.parametrize(("metric", "value", "expected"), [
    ("pm10", 30, "good"), ("pm10", 31, "moderate"), ("pm10", 80, "moderate"), ("pm10", 81, "bad"),
    ("pm10", 150, "bad"), ("pm10", 151, "very_bad"), ("pm25", 15, "good"), ("pm25", 16, "moderate"),
    ("pm25", 35, "moderate"), ("pm25", 36, "bad"), ("pm25", 75, "bad"), ("pm25", 76, "very_bad"),
])
def test_cai_bands(metric: str, value: float, expected: str) -> None:
    assert category(metric, value) == expected


def test_a_station_takes_the_worse_category() -> None:
    assert station_category({"pm10": 25.0, "pm25": 40.0, "o3": 0.2}) == "bad"
    assert station_category({"o3": 0.2}) is None
