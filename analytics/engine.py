"""The rule semantics, once: an evaluator stepping per-series state over ordered readings. Pure.

Both the live service (readings as they are notified) and the backtest (readings from a
DataFrame of history) feed an :class:`Engine` in time order and get the same signals:
:class:`Raised` (an occurrence for the alert store, with the rule version and agency) while a
rule holds, and :class:`Lifted` when it stops holding. A reading older than what its series
has already seen is skipped, so a re-read range changes nothing.

Series: a device (``threshold``, ``rate_of_change``, ``absence``) or a zone (``threshold``
with ``"scope": "zone"``, ``zone_composite``). A zone's alert is kept on the zone's first
device by id (alerts are per device and rule), with the others as related devices.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from analytics import crowd
from analytics.levels import LevelState, step
from analytics.rules import EventRow, ReadingRow, event_title
from analytics.spec import RuleSpec
from hub.alerts import Occurrence


@dataclass(frozen=True, slots=True)
class VersionedRule:
    spec: RuleSpec
    version: int


@dataclass(frozen=True, slots=True)
class Raised:
    occurrence: Occurrence
    version: int
    agency: str | None  # an agency id, "district", or None


@dataclass(frozen=True, slots=True)
class Lifted:
    rule_id: str
    device_id: str
    ts: datetime
    level: str  # the level that was lifted


Signal = Raised | Lifted
# How often a series' sliding sum is summed afresh (bounds its rounding drift).
_RESUM_EVERY = 1000


class _Series:
    """One series' window, level state and where it stands in time (mutable, engine-private)."""

    __slots__ = ("devices", "last_ts", "pushes", "rise", "seen_at_last", "state", "total", "window", "zone")

    def __init__(self) -> None:
        self.window: deque[tuple[datetime, str, float]] = deque()
        self.state = LevelState()
        self.last_ts: datetime | None = None
        self.seen_at_last: set[str] = set()
        self.devices: dict[str, datetime] = {}  # device → its newest reading
        self.zone: str | None = None
        self.rise: crowd.Rise | None = None  # density rules with rise_s
        # The window's sum kept as it slides, so a mean costs O(1) instead of O(window).
        self.total = 0.0
        self.pushes = 0

    def fresh(self, ts: datetime, device_id: str) -> bool:
        """Whether a reading is new to this series (and note it if so)."""
        if self.last_ts is not None and (ts < self.last_ts or (ts == self.last_ts
                                         and device_id in self.seen_at_last)):
            return False
        if ts != self.last_ts:
            self.last_ts, self.seen_at_last = ts, set()
        self.seen_at_last.add(device_id)
        self.devices[device_id] = ts
        return True

    def push(self, ts: datetime, device_id: str, value: float, window_s: float) -> None:
        self.window.append((ts, device_id, value))
        self.total += value
        start = ts - timedelta(seconds=window_s)
        while self.window and self.window[0][0] <= start and len(self.window) > 1:
            self.total -= self.window.popleft()[2]
        self.pushes += 1
        if self.pushes % _RESUM_EVERY == 0:
            self.total = math.fsum(v for _, _, v in self.window)

    def mean(self) -> float:
        """The window's mean; rounded so that sliding-sum rounding never decides a level."""
        return round(self.total / len(self.window), 9)


def _mean(values: Iterable[float]) -> float:
    vs = list(values)
    return sum(vs) / len(vs)


class Engine:
    """Rules' state over readings and events; *intervals* is each device kind's interval_s."""

    def __init__(self, rules: Sequence[VersionedRule], intervals: Mapping[str, float],
                 areas: Mapping[str, float] | None = None) -> None:
        self.intervals = dict(intervals)
        # Zone → area in m² (hub.zones), for density rules; replaced when the service reloads.
        self.areas: dict[str, float] = dict(areas or {})
        self.rules: dict[str, VersionedRule] = {}
        self._series: dict[str, dict[str, _Series]] = {}
        self.replace_rules(rules)

    def replace_rules(self, rules: Sequence[VersionedRule]) -> set[str]:
        """Use *rules* from now on; returns the ids that are new or changed (their state starts
        afresh), keeping the state of the rest."""
        fresh = {r.spec.id for r in rules if self.rules.get(r.spec.id) != r}
        self.rules = {r.spec.id: r for r in rules}
        self._series = {rid: s for rid, s in self._series.items() if rid in self.rules and rid not in fresh}
        for rid in fresh:
            self._series[rid] = {}
        return fresh

    def lookback_s(self, ids: Iterable[str] | None = None) -> float:
        """History the rules (*ids*, else all) need to reach the state they would have had."""
        out = 0.0
        for rid in self.rules if ids is None else ids:
            s = self.rules[rid].spec
            silence = self._limit(s).total_seconds() if s.kind == "absence" else 0.0
            out = max(out, s.lookback_s(), silence)
        return out

    def metrics(self, ids: Iterable[str] | None = None) -> list[str] | None:
        """The metrics the rules read (None: every metric, for an absence rule without one)."""
        out: set[str] = set()
        for r in (self.rules.values() if ids is None else [self.rules[i] for i in ids]):
            if r.spec.kind == "event_map":
                continue
            if r.spec.metric is None:
                return None
            out.add(r.spec.metric)
        return sorted(out)

    def feed(self, rows: Iterable[ReadingRow], only: set[str] | None = None) -> list[Signal]:
        out: list[Signal] = []
        for row in rows:
            for rule in self.rules.values():
                if only is not None and rule.spec.id not in only:
                    continue
                out.extend(self._reading(rule, row))
        return out

    def events(self, rows: Iterable[EventRow]) -> list[Signal]:
        out: list[Signal] = []
        for e in rows:
            for rule in self.rules.values():
                s = rule.spec
                action = s.events.get(e.type) if s.kind == "event_map" else None
                if action is None or s.device_kind not in (None, e.kind):
                    continue
                out.append(Raised(Occurrence(
                    rule_id=f"{s.id}:{e.type}", alert_type=action.alert_type or e.type,
                    title=event_title(e.type), source="cctv" if e.kind == "cctv" else "device",
                    severity=action.severity, device_id=e.device_id, zone=e.zone, ts=e.ts),
                    rule.version, action.agency or s.agency))
        return out

    def mapped(self, e: EventRow) -> bool:
        """Whether an event rule maps *e* (else the kind catalogue's severity applies)."""
        return any(r.spec.kind == "event_map" and e.type in r.spec.events
                   and r.spec.device_kind in (None, e.kind) for r in self.rules.values())

    def tick(self, now: datetime) -> list[Signal]:
        """Absence rules at *now*: a device silent past its limit is raised once, stamped at
        the moment the limit passed (so it does not depend on when ticks happen)."""
        out: list[Signal] = []
        for rule in self.rules.values():
            s = rule.spec
            if s.kind != "absence":
                continue
            limit = self._limit(s)
            for device_id, series in self._series[s.id].items():
                due = series.last_ts + limit if series.last_ts is not None else None
                if due is None or series.state.active is not None or now < due:
                    continue
                series.state = LevelState(0)
                out.append(self._raise(rule, device_id, series, due, limit.total_seconds(), ()))
        return out

    def _reading(self, rule: VersionedRule, row: ReadingRow) -> list[Signal]:
        s = rule.spec
        if s.device_kind not in (None, row.kind) or (s.metric is not None and row.metric != s.metric):
            return []
        zoned = s.scope == "zone"
        if zoned and row.zone is None:
            return []
        key = row.zone if zoned and row.zone is not None else row.device_id
        series = self._series[s.id].setdefault(key, _Series())
        if s.kind == "absence":
            return self._absence(rule, row, series)
        if not series.fresh(row.ts, row.device_id):
            return []
        series.zone = row.zone
        series.push(row.ts, row.device_id, row.value, s.window_s)
        related: tuple[str, ...] = ()
        if s.kind == "threshold":
            q = series.mean()
            related = tuple(sorted(series.devices))
        elif s.kind == "rate_of_change":
            q = row.value - min(v for _, _, v in series.window)
        elif s.kind == "density":
            area = self.areas.get(row.zone or "")
            if area is None:
                return []
            q, related = crowd.density(series.window, area)
            if s.rise_s > 0:
                series.rise = series.rise or crowd.Rise()
                q = series.rise.push(row.ts, q, s.rise_s)
        else:
            q, related = self._share(s, series)
        before = series.state
        series.state = step(before, s.levels, row.ts, q)
        device = min(series.devices) if zoned else row.device_id
        if series.state.active is not None:
            raised = self._raise(rule, device, series, row.ts, q, related)
            if before.active is not None and series.state.active < before.active:
                # Stepped down (a warning lifted into an advisory): the alert store only
                # raises severities, so the higher level ends and the lower one is a new alert.
                return [Lifted(s.id, device, row.ts, s.levels[before.active].name), raised]
            return [raised]
        if before.active is not None:
            return [Lifted(s.id, device, row.ts, s.levels[before.active].name)]
        return []

    @staticmethod
    def _share(s: RuleSpec, series: _Series) -> tuple[float, tuple[str, ...]]:
        """The share of the zone's devices (read within the window) at or above the value."""
        per_device: dict[str, list[float]] = {}
        for _, device, value in series.window:
            per_device.setdefault(device, []).append(value)
        if len(per_device) < s.min_devices:
            return 0.0, ()
        high = sorted(d for d, vs in per_device.items() if _mean(vs) >= s.value)
        return len(high) / len(per_device), tuple(high)

    def _absence(self, rule: VersionedRule, row: ReadingRow, series: _Series) -> list[Signal]:
        previous = series.last_ts
        if not series.fresh(row.ts, row.device_id):
            return []
        series.zone = row.zone
        out: list[Signal] = []
        if series.state.active is None and previous is not None:
            # A gap that no tick saw (history, or ticks too far apart): raised at its time.
            limit = self._limit(rule.spec)
            if row.ts - previous >= limit:
                series.state = LevelState(0)
                out.append(self._raise(rule, row.device_id, series, previous + limit,
                                       limit.total_seconds(), ()))
        if series.state.active is not None:
            series.state = LevelState()
            out.append(Lifted(rule.spec.id, row.device_id, row.ts, rule.spec.levels[0].name))
        return out

    def _limit(self, s: RuleSpec) -> timedelta:
        return timedelta(seconds=s.factor * self.intervals.get(s.device_kind or "", 60.0))

    def _raise(self, rule: VersionedRule, device_id: str, series: _Series, ts: datetime, q: float,
               related: tuple[str, ...]) -> Raised:
        s = rule.spec
        active = series.state.active or 0
        level = s.levels[active]
        return Raised(Occurrence(
            rule_id=s.id, alert_type=s.alert_type, title=s.title, source="rule", severity=level.severity,
            device_id=device_id, zone=series.zone, ts=ts, metric=s.metric, value=round(q, 6),
            related_devices=tuple(d for d in related if d != device_id)), rule.version, s.agency)
