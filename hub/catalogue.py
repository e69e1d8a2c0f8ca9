"""The device-kind catalogue: metrics with units and valid ranges, personal fields, events,
and each kind's privacy model (roles and quasi-identifiers: ``hub/catalogue_privacy.py``).

Kinds are data (``kinds.json``, or the file named by ``CITYHUB_KINDS_FILE``), so adding
a kind such as water level or noise is an edit of that file, not new code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hub.catalogue_privacy import (
    KeySchedule,
    QuasiIdentifier,
    Role,
    field_privacy,
    metric_role,
    quasi_identifiers,
)
from hub.device_status import DEFAULT_INTERVAL_S
from hub.errors import CatalogueError

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    min: float
    max: float
    title: str = ""
    cumulative: bool = False
    role: Role = Role.NONE

    def accepts(self, value: float) -> bool:
        return self.min <= value <= self.max


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    personal: bool  # pseudonymised at ingest: exactly the direct identifiers
    title: str = ""
    role: Role = Role.NONE
    key: KeySchedule = KeySchedule.STABLE


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    severity: str


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    title: str
    interval_s: int
    metrics: Mapping[str, Metric]
    fields: Mapping[str, FieldSpec]
    events: Mapping[str, EventType]
    # What releases generalise, by name (zone, time, household_type …).
    quasi_identifiers: Mapping[str, QuasiIdentifier] = field(default_factory=dict)

    @property
    def personal_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields.values() if f.personal)

    @property
    def daily_key_fields(self) -> frozenset[str]:
        """Personal fields pseudonymised under the key of the value's UTC day."""
        return frozenset(f.name for f in self.fields.values()
                         if f.personal and f.key is KeySchedule.DAILY)

    def with_role(self, role: Role) -> frozenset[str]:
        """The fields and metrics declared with *role*."""
        return frozenset([f.name for f in self.fields.values() if f.role is role]
                         + [m.name for m in self.metrics.values() if m.role is role])


@dataclass(frozen=True, slots=True)
class Catalogue:
    kinds: Mapping[str, Kind]
    # Raw JSON of each kind, stored in the database by `cityhub migrate`.
    specs: Mapping[str, Mapping[str, Any]]

    def kind(self, name: str) -> Kind:
        try:
            return self.kinds[name]
        except KeyError:
            known = ", ".join(sorted(self.kinds))
            raise CatalogueError(f"Unknown device kind {name!r}; known kinds: {known}.") from None

    @property
    def personal_fields(self) -> frozenset[str]:
        """Every field name that some kind marks personal (used to redact dead letters)."""
        names: set[str] = set()
        for kind in self.kinds.values():
            names |= kind.personal_fields
        return frozenset(names)

    def kinds_with_metric(self, metric: str) -> list[str]:
        return sorted(k.name for k in self.kinds.values() if metric in k.metrics)


def _number(spec: Mapping[str, Any], key: str, where: str) -> float:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CatalogueError(f"{where}: {key!r} must be a finite number.")
    return float(value)


def _parse_kind(name: str, spec: Mapping[str, Any]) -> Kind:
    if not isinstance(spec, Mapping):
        raise CatalogueError(f"Kind {name!r} must be an object.")
    metrics: dict[str, Metric] = {}
    for metric_name, m in dict(spec.get("metrics", {})).items():
        where = f"kind {name!r}, metric {metric_name!r}"
        if not isinstance(m, Mapping) or not isinstance(m.get("unit"), str):
            raise CatalogueError(f"{where}: needs a 'unit' string.")
        low, high = _number(m, "min", where), _number(m, "max", where)
        if low > high:
            raise CatalogueError(f"{where}: 'min' is above 'max'.")
        metrics[metric_name] = Metric(
            metric_name, m["unit"], low, high, str(m.get("title", "")), bool(m.get("cumulative")),
            metric_role(where, m),
        )
    fields: dict[str, FieldSpec] = {}
    for field_name, f in dict(spec.get("fields", {})).items():
        where = f"kind {name!r}, field {field_name!r}"
        if not isinstance(f, Mapping):
            raise CatalogueError(f"{where}: must be an object.")
        role, personal, key = field_privacy(where, f)
        fields[field_name] = FieldSpec(field_name, personal, str(f.get("title", "")), role, key)
    clash = set(fields) & set(metrics)
    if clash:
        raise CatalogueError(f"Kind {name!r}: {sorted(clash)} are both metrics and fields.")
    events: dict[str, EventType] = {}
    for event_name, e in dict(spec.get("events", {})).items():
        severity = e.get("severity", "info")
        if severity not in SEVERITIES:
            raise CatalogueError(
                f"Kind {name!r}, event {event_name!r}: severity must be one of {SEVERITIES}."
            )
        events[event_name] = EventType(event_name, severity)
    interval = spec.get("interval_s", DEFAULT_INTERVAL_S)
    if not isinstance(interval, int) or interval <= 0:
        raise CatalogueError(f"Kind {name!r}: 'interval_s' must be a positive whole number.")
    qis = quasi_identifiers(name, spec, {f.name: f.role for f in fields.values()})
    return Kind(name, str(spec.get("title", name)), interval, metrics, fields, events, qis)


def _normalised(spec: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    """*spec* with every field's ``personal`` flag and role spelt out: the database's copy
    is read by SQL (e.g. the events API) that must not re-derive them."""
    fields = {name: {**dict(f), "personal": kind.fields[name].personal, "role": kind.fields[name].role.value}
              for name, f in dict(spec.get("fields", {})).items()}
    return {**dict(spec), "fields": fields}


def parse_catalogue(document: Mapping[str, Any]) -> Catalogue:
    if not isinstance(document, Mapping) or not document:
        raise CatalogueError("The kind catalogue must be a non-empty JSON object of kinds.")
    kinds = {name: _parse_kind(name, spec) for name, spec in document.items()}
    return Catalogue(kinds=kinds, specs={name: _normalised(spec, kinds[name])
                                         for name, spec in document.items()})


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read the catalogue from *path*, or the one shipped with cityhub."""
    try:
        if path is None:
            text = resources.files("hub").joinpath("kinds.json").read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        document = json.loads(text)
    except OSError as exc:
        raise CatalogueError(f"Cannot read the kind catalogue {path}: {exc.strerror}.") from exc
    except json.JSONDecodeError as exc:
        raise CatalogueError(f"The kind catalogue is not valid JSON: {exc}.") from exc
    return parse_catalogue(document)
