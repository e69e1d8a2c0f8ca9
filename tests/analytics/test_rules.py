"""Threshold rules, event occurrences and notification ranges: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.ranges import TimeRange, coalesce, parse_notice
from analytics.rules import Condition, EventRow, ReadingRow, Rule, evaluate_events, evaluate_readings
from hub.catalogue import Catalogue

T0 = datetime(2024, 5, 11, 7, 0, tzinfo=UTC)
PM10 = Rule("pm10-high", "PM10 high", "air_quality", None, "pm10",
            (Condition(">", 150, "warning"), Condition(">", 300, "critical")))
VOLTAGE = Rule("voltage-out-of-range", "Voltage", "power_quality", "smart_meter", "voltage",
               (Condition("<", 200, "warning"), Condition(">", 250, "warning")))
RULES = [PM10, VOLTAGE]


def reading(metric: str, value: float, device: str = "aq-1", kind: str = "air_quality",
            zone: str | None = "jung-gu") -> ReadingRow:
    return ReadingRow(T0, device, kind, zone, metric, value)


@pytest.mark.parametrize(("value", "expected"), [
    (150.0, None), (150.1, "warning"), (300.0, "warning"), (300.5, "critical"), (12.0, None),
])
def test_pm10_levels(value: float, expected: str | None) -> None:
    found = evaluate_readings(RULES, [reading("pm10", value)])
    assert [o.severity for o in found] == ([expected] if expected else [])


@pytest.mark.parametrize(("value", "breaks"), [(199.9, True), (200.0, False), (230.0, False),
                                                (250.0, False), (251.0, True)])
def test_voltage_outside_the_band(value: float, breaks: bool) -> None:
    found = evaluate_readings(RULES, [reading("voltage", value, "m-1", "smart_meter")])
    assert bool(found) is breaks


def test_a_rule_for_one_kind_ignores_other_kinds() -> None:
    assert evaluate_readings(RULES, [reading("voltage", 500.0, kind="air_quality")]) == []


def test_occurrence_carries_what_the_alert_needs() -> None:
    [o] = evaluate_readings(RULES, [reading("pm10", 200.0)])
    assert (o.rule_id, o.alert_type, o.source, o.device_id, o.zone, o.metric, o.value, o.ts) == (
        "pm10-high", "air_quality", "rule", "aq-1", "jung-gu", "pm10", 200.0, T0)


def test_devices_breaking_the_same_rule_in_a_zone_are_related() -> None:
    found = evaluate_readings(RULES, [
        reading("pm10", 200.0, "aq-1"), reading("pm10", 210.0, "aq-2"),
        reading("pm10", 50.0, "aq-3"), reading("pm10", 220.0, "aq-4", zone="jongno-gu"),
    ])
    related = {o.device_id: o.related_devices for o in found}
    assert related == {"aq-1": ("aq-2",), "aq-2": ("aq-1",), "aq-4": ()}


def test_events_take_severity_from_the_catalogue(catalogue: Catalogue) -> None:
    rows = [EventRow(T0, "cam-1", "cctv", "jongno-gu", "fire", "info"),
            EventRow(T0, "cam-1", "cctv", "jongno-gu", "illegal_parking", "critical"),
            EventRow(T0, "m-1", "smart_meter", None, "tamper", "info")]
    found = evaluate_events(catalogue, rows)
    assert [(o.rule_id, o.severity, o.source) for o in found] == [
        ("event:fire", "critical", "cctv"), ("event:illegal_parking", "info", "cctv"),
        ("event:tamper", "critical", "device")]
    assert found[0].title == "Fire detected"


def test_an_event_type_missing_from_the_catalogue_keeps_its_stored_severity(catalogue: Catalogue) -> None:
    [o] = evaluate_events(catalogue, [EventRow(T0, "cam-1", "cctv", None, "graffiti", "info")])
    assert o.severity == "info"


def test_notice_parsing() -> None:
    r = parse_notice('{"from": "2024-05-11T07:00:00+00:00", "to": "2024-05-11T07:00:05+00:00", '
                     '"devices": ["a", "b"]}')
    assert r == TimeRange(T0, T0 + timedelta(seconds=5), frozenset({"a", "b"}))
    every = parse_notice('{"from": "2024-05-11T07:00:00+00:00", "to": "2024-05-11T07:00:00+00:00", '
                         '"devices": null}')
    assert every is not None
    assert every.devices is None


@pytest.mark.parametrize("payload", [
    "not json", "{}", '{"from": "yesterday", "to": "today"}',
    '{"from": "2024-05-11T07:00:00", "to": "2024-05-11T07:00:00"}',
    '{"from": "2024-05-11T07:00:05+00:00", "to": "2024-05-11T07:00:00+00:00"}',
    '{"from": "2024-05-11T07:00:00+00:00", "to": "2024-05-11T07:00:00+00:00", "devices": [1]}',
])
def test_unreadable_notices_are_none(payload: str) -> None:
    assert parse_notice(payload) is None


def test_coalesce_covers_every_range() -> None:
    a = TimeRange(T0, T0 + timedelta(seconds=1), frozenset({"a"}))
    b = TimeRange(T0 - timedelta(seconds=9), T0, frozenset({"b"}))
    assert coalesce([a, b]) == TimeRange(T0 - timedelta(seconds=9), T0 + timedelta(seconds=1),
                                         frozenset({"a", "b"}))
    assert coalesce([a, TimeRange(T0, T0, None)]) == TimeRange(T0, T0 + timedelta(seconds=1), None)
    assert coalesce([]) is None
