"""The pre-alert: a forecast that crosses the fine-dust advisory level. Pure.

The advisory (주의보) is an hourly mean at or above its level for its duration (PM2.5: 75
µg/m³ for 2 hours, the built-in rule ``pm25-fine-dust``). A station's forecast run that is at
or above that level for as many *consecutive forecast hours* raises a pre-alert on the
station: type ``pm25_advisory_forecast``, severity ``info``, value the highest forecast. A
later run that no longer crosses lifts it. The level and duration are read from the current
version of the advisory rule, so tuning the rule tunes the pre-alert; while that rule is
disabled there is no pre-alert.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from analytics.forecast.model import Forecast
from analytics.spec import RuleSpec
from hub.alerts import Occurrence

ADVISORY_RULE = "pm25-fine-dust"
RULE_ID = "pm25-fine-dust-forecast"
ALERT_TYPE = "pm25_advisory_forecast"
SEVERITY = "info"


@dataclass(frozen=True, slots=True)
class Advisory:
    """The level a forecast must reach and for how many consecutive hours."""

    level: float
    hours: int
    name: str = "advisory (주의보)"


def advisory_of(rules: Iterable[RuleSpec], rule_id: str = ADVISORY_RULE) -> Advisory | None:
    """The lowest level of the advisory rule, if that rule is enabled (among *rules*)."""
    for spec in rules:
        if spec.id == rule_id and spec.levels:
            lowest = min(spec.levels, key=lambda lv: lv.above)
            return Advisory(lowest.above, max(1, math.ceil(lowest.for_s / 3600.0)), lowest.name)
    return None


@dataclass(frozen=True, slots=True)
class Crossing:
    station: str
    first_target: datetime  # start of the first hour of the run over the level
    horizon: int  # that hour's horizon
    peak: float
    values: tuple[tuple[int, float], ...]  # (horizon, value) of the whole forecast run


def crossings(forecasts: Sequence[Forecast], advisory: Advisory) -> tuple[list[Crossing], list[str]]:
    """Stations whose run crosses (with where), and the stations of the run that do not."""
    crossing: list[Crossing] = []
    calm: list[str] = []
    ordered = sorted(forecasts, key=lambda f: (f.station, f.horizon))
    for station, group in groupby(ordered, key=lambda f: f.station):
        run = list(group)
        streak: list[Forecast] = []
        found: list[Forecast] | None = None
        for f in run:
            # Consecutive target hours: a gap in the horizons breaks the streak.
            if f.value >= advisory.level and (not streak or f.horizon == streak[-1].horizon + 1):
                streak.append(f)
            else:
                streak = [f] if f.value >= advisory.level else []
            if len(streak) >= advisory.hours:
                found = streak
                break
        if found is None:
            calm.append(station)
        else:
            crossing.append(Crossing(station, found[0].target_at, found[0].horizon,
                                     max(f.value for f in run), tuple((f.horizon, f.value) for f in run)))
    return crossing, calm


def occurrence(c: Crossing, made_at: datetime, zone: str | None, advisory: Advisory) -> Occurrence:
    title = (f"Forecast: PM2.5 may reach the {advisory.name} level ({advisory.level:g} µg/m³) "
             f"for {advisory.hours} h or more")
    return Occurrence(rule_id=RULE_ID, alert_type=ALERT_TYPE, title=title, source="rule",
                      severity=SEVERITY, device_id=c.station, zone=zone, ts=made_at, metric="pm25",
                      value=round(c.peak, 1))


def occurrences(found: Sequence[Crossing], made_at: datetime, zones: Mapping[str, str | None],
                advisory: Advisory) -> list[Occurrence]:
    return [occurrence(c, made_at, zones.get(c.station), advisory) for c in found]
