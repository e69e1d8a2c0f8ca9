"""A rule as data: the JSON/YAML document an operator writes, checked into frozen dataclasses. Pure.

Kinds (``"kind"``) and what each watches:

- ``threshold``: the mean of ``metric`` over ``window_s`` per device, or per zone with
  ``"scope": "zone"`` (all of the zone's devices pooled); levels with a duration and
  hysteresis (raise after ``for_s`` at or above ``above``, lift after ``clear_for_s``
  below ``clear_below``).
- ``rate_of_change``: the rise of ``metric`` over ``window_s`` (the newest value minus the
  lowest in the window), with the same levels.
- ``absence``: no reading from a device of ``device_kind`` for ``factor`` × the kind's
  ``interval_s`` (hub/kinds.json).
- ``event_map``: device events of the listed types → severity, agency, alert type (SOP).
- ``zone_composite``: the share of a zone's devices whose mean over ``window_s`` is at or
  above ``value``; levels on that share (0–1).
- ``density``: persons per m² in a zone: the newest ``metric`` (a count) of each of the zone's
  devices read within ``window_s``, summed, over the zone's area (``hub.zones``,
  analytics/crowd.py); with ``rise_s`` the rise of that density over ``rise_s`` instead (an
  early warning of a crowd building up).

:func:`parse` raises :class:`RuleError` naming the field at fault, so an API answers 400
with it and a CLI prints it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.alerts import SEVERITIES
from hub.errors import InvalidInput

KINDS = ("threshold", "rate_of_change", "absence", "event_map", "zone_composite", "density")
SCOPES = ("device", "zone")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_TYPE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
# The agency value that means "the district office of the alert's zone".
DISTRICT = "district"
MAX_WINDOW_S = 7 * 24 * 3600
RESERVED_IDS = frozenset({"cai"})


class RuleError(InvalidInput):
    """A rule document is wrong; ``field`` names where (dotted, e.g. ``levels.1.above``)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.reason = message


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    severity: str
    above: float
    for_s: float = 0.0
    clear_below: float = 0.0
    clear_for_s: float = 0.0


@dataclass(frozen=True, slots=True)
class EventAction:
    severity: str
    agency: str | None = None
    alert_type: str | None = None


@dataclass(frozen=True, slots=True)
class RuleSpec:
    id: str
    kind: str
    title: str
    alert_type: str
    metric: str | None = None
    device_kind: str | None = None
    scope: str = "device"
    window_s: float = 0.0
    levels: tuple[Level, ...] = ()
    factor: float = 0.0
    value: float = 0.0
    min_devices: int = 1
    rise_s: float = 0.0
    events: Mapping[str, EventAction] = field(default_factory=dict)
    agency: str | None = None
    description: str = ""
    source: str = ""

    def lookback_s(self) -> float:
        """How much history the rule needs to be in the same state as if it had run all along."""
        longest = max((max(lv.for_s, lv.clear_for_s) for lv in self.levels), default=0.0)
        return self.window_s + self.rise_s + longest


def _get(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None,
         *, required: bool = False, prefix: str = "") -> Any:
    if name not in doc or doc[name] is None:
        if required:
            raise RuleError(prefix + name, "is required")
        return default
    value = doc[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        wanted = {str: "a string", float: "a number", int: "an integer", list: "a list",
                  dict: "an object"}.get(kind if isinstance(kind, type) else str, "a value")
        raise RuleError(prefix + name, f"must be {wanted}")
    return value


def _severity(value: str, where: str) -> str:
    if value not in SEVERITIES:
        raise RuleError(where, f"must be one of {', '.join(SEVERITIES)}, not {value!r}")
    return value


def _non_negative(value: float, where: str) -> float:
    if value < 0 or value != value:
        raise RuleError(where, "must not be negative")
    return value


def _levels(doc: Mapping[str, Any], *, share: bool) -> tuple[Level, ...]:
    raw = _get(doc, "levels", list, required=True)
    if not raw:
        raise RuleError("levels", "must list at least one level")
    out: list[Level] = []
    for n, item in enumerate(raw):
        p = f"levels.{n}."
        if not isinstance(item, dict):
            raise RuleError(f"levels.{n}", "must be an object")
        above = float(_get(item, "above", float, required=True, prefix=p))
        if share and not 0 < above <= 1:
            raise RuleError(p + "above", "is a share of the zone's devices: more than 0, at most 1")
        clear_below = float(_get(item, "clear_below", float, above, prefix=p))
        if clear_below > above:
            raise RuleError(p + "clear_below", "must not be above the raising level (`above`)")
        level = Level(
            name=_get(item, "name", str, f"level {n + 1}", prefix=p),
            severity=_severity(_get(item, "severity", str, required=True, prefix=p), p + "severity"),
            above=above,
            for_s=_non_negative(float(_get(item, "for_s", float, 0.0, prefix=p)), p + "for_s"),
            clear_below=clear_below,
            clear_for_s=_non_negative(float(_get(item, "clear_for_s", float, 0.0, prefix=p)),
                                      p + "clear_for_s"),
        )
        if out and level.above <= out[-1].above:
            raise RuleError(p + "above", "levels must be listed from the lowest to the highest")
        out.append(level)
    return tuple(out)


def _events(doc: Mapping[str, Any]) -> dict[str, EventAction]:
    raw = _get(doc, "events", dict, required=True)
    if not raw:
        raise RuleError("events", "must map at least one event type")
    out: dict[str, EventAction] = {}
    for event_type, item in raw.items():
        p = f"events.{event_type}."
        if not _TYPE.match(str(event_type)):
            raise RuleError(f"events.{event_type}", "an event type is lower-case letters, digits and _")
        if not isinstance(item, dict):
            raise RuleError(f"events.{event_type}", "must be an object with a severity")
        out[str(event_type)] = EventAction(
            severity=_severity(_get(item, "severity", str, required=True, prefix=p), p + "severity"),
            agency=_get(item, "agency", str, prefix=p),
            alert_type=_get(item, "alert_type", str, prefix=p))
    return out


_KNOWN = frozenset({"id", "kind", "title", "alert_type", "metric", "device_kind", "scope", "window_s",
                    "levels", "factor", "value", "min_devices", "rise_s", "events", "agency", "description",
                    "source", "severity"})


def parse(doc: Mapping[str, Any], *, rule_id: str | None = None) -> RuleSpec:
    """Check a rule document; *rule_id* (from the URL or the command line) wins over ``id``."""
    if not isinstance(doc, Mapping):
        raise RuleError("rule", "must be an object")
    unknown = sorted(set(doc) - _KNOWN)
    if unknown:
        raise RuleError(unknown[0], f"is not a rule field (known: {', '.join(sorted(_KNOWN))})")
    rid = rule_id if rule_id is not None else _get(doc, "id", str, required=True)
    if not _ID.match(rid):
        raise RuleError("id", "is 1–64 lower-case letters, digits, '.', '_' or '-', starting with a "
                              "letter or digit")
    if rid in RESERVED_IDS:
        raise RuleError("id", f"{rid!r} is reserved (GET /api/v1/rules/{rid} is the map's categories)")
    kind = _get(doc, "kind", str, required=True)
    if kind not in KINDS:
        raise RuleError("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    alert_type = _get(doc, "alert_type", str, "event" if kind == "event_map" else None,
                      required=kind != "event_map")
    if not _TYPE.match(alert_type):
        raise RuleError("alert_type", "is lower-case letters, digits and _")
    base: dict[str, Any] = {
        "id": rid, "kind": kind, "alert_type": alert_type,
        "title": _get(doc, "title", str, required=True),
        "device_kind": _get(doc, "device_kind", str),
        "agency": _get(doc, "agency", str),
        "description": _get(doc, "description", str, ""),
        "source": _get(doc, "source", str, ""),
    }
    if kind == "event_map":
        return RuleSpec(**base, events=_events(doc))
    if kind == "absence":
        if base["device_kind"] is None:
            raise RuleError("device_kind", "is required: the kind's interval_s sets the silence")
        factor = float(_get(doc, "factor", float, required=True))
        if factor <= 0:
            raise RuleError("factor", "must be more than 0")
        severity = _severity(_get(doc, "severity", str, "warning"), "severity")
        return RuleSpec(**base, metric=_get(doc, "metric", str), factor=factor,
                        levels=(Level("silent", severity, 1.0),))
    metric = _get(doc, "metric", str, required=True)
    window_s = _non_negative(float(_get(doc, "window_s", float, 0.0)), "window_s")
    if window_s > MAX_WINDOW_S:
        raise RuleError("window_s", f"must be at most {MAX_WINDOW_S} (a week)")
    if kind == "rate_of_change" and window_s <= 0:
        raise RuleError("window_s", "is required: the rise is measured over it")
    scope = _get(doc, "scope", str, "device")
    if scope not in SCOPES or (scope == "zone" and kind not in ("threshold", "density")) \
            or (kind == "density" and "scope" in doc and scope != "zone"):
        raise RuleError("scope", "is 'device', or 'zone' for a threshold rule; a density rule is per zone")
    if kind == "density":
        if window_s <= 0:
            raise RuleError("window_s", "is required: a device's count is current for that long")
        rise_s = _non_negative(float(_get(doc, "rise_s", float, 0.0)), "rise_s")
        if rise_s > MAX_WINDOW_S:
            raise RuleError("rise_s", f"must be at most {MAX_WINDOW_S} (a week)")
        return RuleSpec(**base, metric=metric, window_s=window_s, scope="zone", rise_s=rise_s,
                        levels=_levels(doc, share=False))
    if kind == "zone_composite":
        min_devices = int(_get(doc, "min_devices", int, 2))
        if min_devices < 1:
            raise RuleError("min_devices", "must be at least 1")
        return RuleSpec(**base, metric=metric, window_s=window_s, scope="zone",
                        value=float(_get(doc, "value", float, required=True)),
                        min_devices=min_devices, levels=_levels(doc, share=True))
    return RuleSpec(**base, metric=metric, window_s=window_s, scope=scope,
                    levels=_levels(doc, share=False))


def to_document(spec: RuleSpec) -> dict[str, Any]:
    """The rule as the document it was parsed from (defaults filled in); parse() round-trips it."""
    doc: dict[str, Any] = {"id": spec.id, "kind": spec.kind, "title": spec.title,
                           "alert_type": spec.alert_type}
    for name in ("device_kind", "agency", "metric"):
        if getattr(spec, name) is not None:
            doc[name] = getattr(spec, name)
    if spec.kind == "event_map":
        doc["events"] = {t: {k: v for k, v in (("severity", a.severity), ("agency", a.agency),
                                                ("alert_type", a.alert_type)) if v is not None}
                         for t, a in spec.events.items()}
    elif spec.kind == "absence":
        doc["factor"] = spec.factor
        doc["severity"] = spec.levels[0].severity
    else:
        doc["window_s"] = spec.window_s
        if spec.kind == "threshold":
            doc["scope"] = spec.scope
        if spec.kind == "density" and spec.rise_s:
            doc["rise_s"] = spec.rise_s
        if spec.kind == "zone_composite":
            doc["value"] = spec.value
            doc["min_devices"] = spec.min_devices
        doc["levels"] = [{"name": lv.name, "severity": lv.severity, "above": lv.above, "for_s": lv.for_s,
                          "clear_below": lv.clear_below, "clear_for_s": lv.clear_for_s}
                         for lv in spec.levels]
    if spec.description:
        doc["description"] = spec.description
    if spec.source:
        doc["source"] = spec.source
    return doc
