"""The privacy model of a device kind, declared in the kind catalogue (docs/privacy.md).

Every field and metric has a *role*:

- ``direct_identifier``: points at one person or household by itself (a licence plate,
  a household id, a person track id). Pseudonymised at ingest — this is the catalogue's
  ``personal`` flag, which must agree with the role — under the stable key or, with
  ``"key": "daily"``, under a key that changes every UTC day.
- ``quasi_identifier``: identifies in combination with others (where, when, what).
- ``sensitive``: what a release must not let anyone learn about one person (a load curve).
- ``none``.

A kind's ``privacy.quasi_identifiers`` are the attributes of a released record that
releases generalise, each with where its value comes from and its levels, most
detailed first (``zone`` → ``district`` → ``city``). Release methods read them from
here, never from code. A declaration that breaks these rules raises ``CatalogueError``
when the catalogue loads, so no service starts on it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from hub.errors import CatalogueError


class Role(StrEnum):
    DIRECT_IDENTIFIER = "direct_identifier"
    QUASI_IDENTIFIER = "quasi_identifier"
    SENSITIVE = "sensitive"
    NONE = "none"


class KeySchedule(StrEnum):
    STABLE = "stable"  # the versioned key: the same value, the same pseudonym
    DAILY = "daily"  # a key per UTC day: pseudonyms of two days cannot be joined


# Where a quasi-identifier's value comes from, besides "device:<attribute>" (an
# attribute of the device's registration) and "field:<name>" (a quasi-identifier field).
SOURCES = ("zone", "time", "event_type")
_FIELD_KEYS = frozenset({"personal", "role", "key", "title"})
_QI_KEYS = frozenset({"from", "levels", "title"})
_DURATION = re.compile(r"([1-9][0-9]*) (minute|hour|day|week)s?")
_UNIT = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1),
         "day": timedelta(days=1), "week": timedelta(weeks=1)}
_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class QuasiIdentifier:
    name: str
    source: str
    levels: tuple[str, ...]  # most detailed first
    title: str = ""

    def durations(self) -> tuple[timedelta, ...]:
        """The levels of a time quasi-identifier as bucket widths ("1 hour" → 1 h)."""
        return tuple(_duration(level) for level in self.levels) if self.source == "time" else ()


def _duration(level: str) -> timedelta:
    match = _DURATION.fullmatch(level)
    if match is None:
        raise CatalogueError(f"Time level {level!r} is not like '15 minutes', '1 hour', '7 days'.")
    return int(match.group(1)) * _UNIT[match.group(2)]


def _role(where: str, value: object, allowed: tuple[Role, ...]) -> Role:
    names = ", ".join(r.value for r in allowed)
    if not isinstance(value, str) or value not in {r.value for r in allowed}:
        raise CatalogueError(f"{where}: 'role' must be one of {names}, not {value!r}.")
    return Role(value)


def field_privacy(where: str, spec: Mapping[str, Any]) -> tuple[Role, bool, KeySchedule]:
    """A field's role, its ``personal`` flag (derived when not given) and its key."""
    unknown = set(spec) - _FIELD_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_FIELD_KEYS)}.")
    personal = spec.get("personal")
    if personal is not None and not isinstance(personal, bool):
        raise CatalogueError(f"{where}: 'personal' must be true or false.")
    if "role" in spec:
        role = _role(where, spec["role"], tuple(Role))
    else:  # a catalogue from before roles: personal fields are direct identifiers
        role = Role.DIRECT_IDENTIFIER if personal else Role.NONE
    direct = role is Role.DIRECT_IDENTIFIER
    if personal is not None and personal != direct:
        raise CatalogueError(
            f"{where}: 'personal': {str(personal).lower()} contradicts 'role': {role.value!r}; "
            "a field is personal (pseudonymised at ingest) exactly when it is a direct identifier."
        )
    key = spec.get("key", KeySchedule.STABLE.value)
    if not isinstance(key, str) or key not in {k.value for k in KeySchedule}:
        raise CatalogueError(f"{where}: 'key' must be 'stable' or 'daily', not {key!r}.")
    if "key" in spec and not direct:
        raise CatalogueError(f"{where}: only a direct identifier is pseudonymised, so only it has a 'key'.")
    return role, direct, KeySchedule(key)


def metric_role(where: str, spec: Mapping[str, Any]) -> Role:
    """A metric is a number: it may be sensitive or a quasi-identifier, never a direct identifier."""
    return _role(where, spec.get("role", Role.NONE.value),
                 (Role.QUASI_IDENTIFIER, Role.SENSITIVE, Role.NONE))


def quasi_identifiers(kind: str, spec: Mapping[str, Any],
                      field_roles: Mapping[str, Role]) -> dict[str, QuasiIdentifier]:
    """The kind's ``privacy.quasi_identifiers``, checked."""
    privacy = spec.get("privacy", {})
    if not isinstance(privacy, Mapping) or set(privacy) - {"quasi_identifiers"}:
        raise CatalogueError(f"Kind {kind!r}: 'privacy' may hold only 'quasi_identifiers'.")
    declared = privacy.get("quasi_identifiers", {})
    if not isinstance(declared, Mapping):
        raise CatalogueError(f"Kind {kind!r}: 'privacy.quasi_identifiers' must be an object.")
    result: dict[str, QuasiIdentifier] = {}
    for name, qi in declared.items():
        where = f"kind {kind!r}, quasi-identifier {name!r}"
        if not isinstance(qi, Mapping) or set(qi) - _QI_KEYS:
            raise CatalogueError(f"{where}: must be an object with {sorted(_QI_KEYS)}.")
        source = qi.get("from")
        _check_source(where, source, field_roles)
        levels = qi.get("levels")
        if (not isinstance(levels, list) or not levels
                or not all(isinstance(v, str) and v for v in levels) or len(set(levels)) != len(levels)):
            raise CatalogueError(f"{where}: 'levels' must be a non-empty list of distinct names.")
        found = QuasiIdentifier(name, str(source), tuple(levels), str(qi.get("title", "")))
        try:
            widths = found.durations()
        except CatalogueError as exc:
            raise CatalogueError(f"{where}: {exc}") from None
        if any(a >= b for a, b in itertools.pairwise(widths)):
            raise CatalogueError(f"{where}: time levels must grow, e.g. ['15 minutes', '1 hour'].")
        result[name] = found
    return result


def _check_source(where: str, source: object, field_roles: Mapping[str, Role]) -> None:
    if not isinstance(source, str):
        raise CatalogueError(f"{where}: 'from' must be a string.")
    prefix, _, rest = source.partition(":")
    if source in SOURCES or (prefix == "device" and _ATTRIBUTE.fullmatch(rest)):
        return
    if prefix == "field":
        if field_roles.get(rest) is Role.QUASI_IDENTIFIER:
            return
        raise CatalogueError(f"{where}: 'from': {source!r} must name a quasi-identifier field.")
    raise CatalogueError(
        f"{where}: 'from' must be one of {', '.join(SOURCES)}, 'device:<attribute>' or "
        f"'field:<name>', not {source!r}."
    )
