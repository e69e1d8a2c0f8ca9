"""Events no rule maps, and notification ranges: pure, no I/O (rules: test_engine.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.ranges import TimeRange, coalesce, parse_notice
from analytics.rules import EventRow, evaluate_events
from hub.catalogue import Catalogue

T0 = datetime(2024, 5, 11, 7, 0, tzinfo=UTC)


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
