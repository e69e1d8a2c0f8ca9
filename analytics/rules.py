"""Threshold rules and device events turned into alert occurrences. Pure.

A rule watches one metric (optionally of one device kind) and holds conditions such
as ``> 150 → warning`` and ``> 300 → critical``; a reading breaks the rule when any
condition holds and takes the highest severity among those that hold. A device event
becomes an occurrence of rule ``event:<type>`` with the severity the kind catalogue
gives that event type; CCTV events have source ``cctv``, other devices' ``device``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.alerts import SEVERITIES, Occurrence, higher
from hub.catalogue import Catalogue


@dataclass(frozen=True, slots=True)
class Condition:
    op: str  # '>' or '<'
    threshold: float
    severity: str

    def holds(self, value: float) -> bool:
        return value > self.threshold if self.op == ">" else value < self.threshold


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    alert_type: str
    device_kind: str | None
    metric: str
    conditions: tuple[Condition, ...]

    def applies_to(self, kind: str, metric: str) -> bool:
        return metric == self.metric and self.device_kind in (None, kind)

    def severity(self, value: float) -> str | None:
        """The highest severity among the conditions *value* meets, or None."""
        found: str | None = None
        for c in self.conditions:
            if c.holds(value):
                found = c.severity if found is None else higher(found, c.severity)
        return found


@dataclass(frozen=True, slots=True)
class ReadingRow:
    ts: datetime
    device_id: str
    kind: str
    zone: str | None
    metric: str
    value: float


@dataclass(frozen=True, slots=True)
class EventRow:
    ts: datetime
    device_id: str
    kind: str
    zone: str | None
    type: str
    severity: str


def validate_rule(rule: Rule) -> Rule:
    for c in rule.conditions:
        if c.op not in (">", "<") or c.severity not in SEVERITIES:
            raise ValueError(f"rule {rule.id}: bad condition {c}")
    return rule


def evaluate_readings(rules: Sequence[Rule], readings: Iterable[ReadingRow]) -> list[Occurrence]:
    """Occurrences for every reading that breaks a rule; devices in the same zone breaking
    the same rule in this batch are listed as each other's related devices."""
    by_metric: Mapping[str, list[Rule]] = _by_metric(rules)
    hits: list[tuple[Rule, ReadingRow, str]] = []
    for r in readings:
        for rule in by_metric.get(r.metric, ()):
            if not rule.applies_to(r.kind, r.metric):
                continue
            severity = rule.severity(r.value)
            if severity is not None:
                hits.append((rule, r, severity))
    zone_devices: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rule, r, _ in hits:
        if r.zone is not None:
            zone_devices[(rule.id, r.zone)].add(r.device_id)
    out: list[Occurrence] = []
    for rule, r, severity in hits:
        related = zone_devices.get((rule.id, r.zone), set()) if r.zone is not None else set()
        out.append(Occurrence(
            rule_id=rule.id, alert_type=rule.alert_type, title=rule.title, source="rule",
            severity=severity, device_id=r.device_id, zone=r.zone, ts=r.ts, metric=r.metric,
            value=r.value, related_devices=tuple(sorted(related - {r.device_id})),
        ))
    return out


def _by_metric(rules: Sequence[Rule]) -> dict[str, list[Rule]]:
    out: dict[str, list[Rule]] = defaultdict(list)
    for rule in rules:
        out[rule.metric].append(rule)
    return out


def event_title(event_type: str) -> str:
    return event_type.replace("_", " ").capitalize() + " detected"


def evaluate_events(catalogue: Catalogue, events: Iterable[EventRow]) -> list[Occurrence]:
    """One occurrence per event; severity from the catalogue (the stored one if the kind
    no longer lists the type)."""
    out: list[Occurrence] = []
    for e in events:
        kind = catalogue.kinds.get(e.kind)
        spec = kind.events.get(e.type) if kind is not None else None
        severity = spec.severity if spec is not None else e.severity
        if severity not in SEVERITIES:
            severity = "warning"
        out.append(Occurrence(
            rule_id=f"event:{e.type}", alert_type=e.type, title=event_title(e.type),
            source="cctv" if e.kind == "cctv" else "device", severity=severity,
            device_id=e.device_id, zone=e.zone, ts=e.ts,
        ))
    return out
