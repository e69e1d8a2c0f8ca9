"""The rows rules read, and device events no rule maps. Pure.

Rules themselves are documents (analytics/spec.py) evaluated by analytics/engine.py. A
device event that no ``event_map`` rule maps still becomes an occurrence, of rule
``event:<type>``, with the severity the kind catalogue gives that event type; CCTV events
have source ``cctv``, other devices' ``device``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.alerts import SEVERITIES, Occurrence
from hub.catalogue import Catalogue


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
