"""The pre-alert: consecutive forecast hours over the advisory level of the current rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.forecast.model import Forecast
from analytics.forecast.prealert import ALERT_TYPE, RULE_ID, Advisory, advisory_of, crossings, occurrences
from analytics.spec import parse

MADE_FROM = datetime(2026, 3, 2, 5, tzinfo=UTC)
ADVISORY = Advisory(75.0, 2)


def run(station: str, values: list[float]) -> list[Forecast]:
    return [Forecast(station, MADE_FROM, h, MADE_FROM + timedelta(hours=h), v)
            for h, v in enumerate(values, start=1)]


def test_two_consecutive_hours_over_the_level_cross_one_does_not() -> None:
    forecasts = (run("rising", [60, 70, 76, 80, 90, 95]) + run("blip", [60, 80, 70, 60, 50, 40])
                 + run("apart", [76, 60, 76, 60, 76, 60]) + run("late", [40, 50, 60, 70, 75, 75]))
    found, calm = crossings(forecasts, ADVISORY)
    assert {c.station: (c.horizon, c.peak) for c in found} == {"rising": (3, 95), "late": (5, 75)}
    assert sorted(calm) == ["apart", "blip"]
    rising = next(c for c in found if c.station == "rising")
    assert rising.first_target == MADE_FROM + timedelta(hours=3)
    assert rising.values == ((1, 60), (2, 70), (3, 76), (4, 80), (5, 90), (6, 95))


def test_a_gap_in_the_horizons_breaks_the_run() -> None:
    gappy = [f for f in run("s", [80, 60, 80, 70, 60, 50]) if f.horizon != 2]
    assert crossings(gappy, ADVISORY)[0] == []


def test_the_pre_alert_is_a_forecast_with_its_peak_on_the_station() -> None:
    found, _ = crossings(run("aq-1", [70, 78, 82, 74, 60, 50]), ADVISORY)
    made_at = MADE_FROM + timedelta(hours=1)
    [o] = occurrences(found, made_at, {"aq-1": "jung-gu"}, ADVISORY)
    assert (o.rule_id, o.alert_type, o.severity, o.device_id, o.zone, o.metric, o.value, o.ts) == (
        RULE_ID, ALERT_TYPE, "info", "aq-1", "jung-gu", "pm25", 82.0, made_at)
    assert o.title.startswith("Forecast:")
    assert "75 µg/m³" in o.title


def test_the_level_and_duration_come_from_the_advisory_rule() -> None:
    rule = parse({"id": "pm25-fine-dust", "kind": "threshold", "alert_type": "fine_dust", "title": "t",
                  "metric": "pm25", "window_s": 3600, "levels": [
                      {"name": "advisory", "severity": "warning", "above": 60, "for_s": 10800},
                      {"name": "warning", "severity": "critical", "above": 150, "for_s": 7200}]})
    assert advisory_of([rule]) == Advisory(60.0, 3, "advisory")
    assert advisory_of([]) is None  # the rule disabled: no pre-alert
