"""Alerts matched to injected anomalies: precision and recall per anomaly type. Pure.

An injection (one ground-truth record) is *detected* when an alert of one of its label's
expected alert types starts (``first_seen``) within ``[start, end + grace]`` on one of its
devices — or, for the labels whose alerts are per zone (an advisory, a crowd), in one of its
devices' zones. An alert is a *true positive* when it matches some injection of a label that
expects its type, a *false positive* when it matches none.

Per label: recall = detected injections / injections; precision = the alerts of the label's
types that matched an injection of the label / (those + the alerts of those types that matched
no injection at all, nor an injected fault that explains them: ``EXPLAINED``). An alert that
matched another label's injection (a sensor-fault alert is expected for stuck values, drifts
and spikes alike) counts for that label only. With no
injection of a label in the range, its recall is undefined (None); with no alert of its types,
its precision is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Expectation:
    """Which alerts count for a label, whether they are per device or per zone, and how late
    after the injection's end an alert may start and still count."""

    alert_types: frozenset[str]
    scope: str  # "device" | "zone"
    grace: timedelta


def _e(types: Iterable[str], scope: str, grace: timedelta) -> Expectation:
    return Expectation(frozenset(types), scope, grace)


# The anomaly types of the issue, and what the hub is expected to make of each
# (docs/analytics.md, "Scored against ground truth").
EXPECTED: Mapping[str, Expectation] = {
    "asian_dust": _e({"fine_dust"}, "zone", HOUR),          # pm10/pm25-fine-dust advisories
    "ozone_episode": _e({"ozone"}, "zone", HOUR),            # o3-ozone-alert
    "stuck_value": _e({"sensor_fault"}, "device", HOUR),     # sensor-fault (analytics/models)
    "drift": _e({"sensor_fault"}, "device", HOUR),
    "spike": _e({"sensor_fault"}, "device", HOUR),
    "dropout": _e({"device_silent"}, "device", 15 * MINUTE),  # air-station-silent
    "theft": _e({"suspected_theft"}, "device", 24 * HOUR),   # suspected-theft
    "meter_fault": _e({"meter_anomaly"}, "device", 24 * HOUR),
    "inactive_household": _e({"welfare_check"}, "device", 6 * HOUR),
    "crowd_build_up": _e({"crowd"}, "zone", 15 * MINUTE),    # crowd-density, crowd-rising, event:crowd
    "night_fire": _e({"fire", "smoke"}, "device", 15 * MINUTE),  # cctv-fire:smoke, cctv-fire:fire
}
LABELS = tuple(EXPECTED)
# Injected faults that are not scored but explain alerts: a station whose clock runs 15 minutes
# ahead has its readings refused and looks silent; a device offline long enough is silent too.
# An alert they explain is neither a true nor a false positive.
EXPLAINED: Mapping[str, Expectation] = {
    "clock_skew": _e({"device_silent"}, "device", 15 * MINUTE),
    "offline": _e({"device_silent"}, "device", 15 * MINUTE),
}


@dataclass(frozen=True, slots=True)
class Injection:
    label: str
    devices: frozenset[str]
    zones: frozenset[str]
    start: datetime
    end: datetime
    scenario: str = ""


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    rule_id: str
    alert_type: str
    device_id: str | None
    zone: str | None
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class Score:
    label: str
    injections: int
    detected: int
    true_positives: int
    false_positives: int

    @property
    def recall(self) -> float | None:
        return self.detected / self.injections if self.injections else None

    @property
    def precision(self) -> float | None:
        alerts = self.true_positives + self.false_positives
        return self.true_positives / alerts if alerts else None


def matches(alert: AlertRow, injection: Injection,
            expectations: Mapping[str, Expectation] = EXPECTED) -> bool:
    e = expectations.get(injection.label) or EXPLAINED.get(injection.label)
    if e is None or alert.alert_type not in e.alert_types:
        return False
    if not injection.start <= alert.first_seen <= injection.end + e.grace:
        return False
    if alert.device_id is not None and alert.device_id in injection.devices:
        return True
    return e.scope == "zone" and alert.zone is not None and alert.zone in injection.zones


def score(injections: Sequence[Injection], alerts: Sequence[AlertRow],
          expectations: Mapping[str, Expectation] = EXPECTED, *,
          until: datetime | None = None) -> list[Score]:
    """One score per label of *expectations*, in their order. Alerts are read up to the end of
    the range plus the grace; those after *until* (the range's end) count only if they match."""
    matched_labels: dict[int, set[str]] = {}
    detected: dict[int, bool] = {}
    for n, injection in enumerate(injections):
        for alert in alerts:
            if matches(alert, injection, expectations):
                detected[n] = True
                matched_labels.setdefault(alert.id, set()).add(injection.label)
    out: list[Score] = []
    for label, e in expectations.items():
        mine = [n for n, i in enumerate(injections) if i.label == label]
        typed = [a for a in alerts if a.alert_type in e.alert_types]
        tp = sum(1 for a in typed if label in matched_labels.get(a.id, ()))
        fp = sum(1 for a in typed if a.id not in matched_labels and (until is None or a.first_seen <= until))
        out.append(Score(label, len(mine), sum(1 for n in mine if detected.get(n)), tp, fp))
    return out
