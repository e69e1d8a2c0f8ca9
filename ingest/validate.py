"""Checks of decoded payloads against the kind catalogue. Pure: no I/O, no clock.

A message is accepted whole or rejected whole, with a reason a vendor can act on.
Reasons name fields and limits but never echo personal values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.catalogue import Catalogue, Kind
from hub.domain import Event
from hub.pseudonym import PseudonymKeys
from hub.timeparse import BadTimestamp, parse_ts
from ingest import fiware
from ingest.messages import Rejection, TelemetryRow

MAX_READINGS_PER_MESSAGE = 10_000
# Parsed device times, by their raw value: a gateway's readings, and a device's
# batches, share a few times. Cleared when full; it only saves work.
_TS_MEMO_SIZE = 4096
FUTURE_TOLERANCE = timedelta(minutes=5)
_RESERVED = frozenset({"ts", "values"})
_EVENT_RESERVED = frozenset({"ts", "type", "confidence"})


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    kind: str
    active: bool
    gateway_id: str | None


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Accepted reading times: late data back to the retention horizon, little future."""

    earliest: datetime
    latest: datetime

    @classmethod
    def around(cls, now: datetime, retention: timedelta) -> TimeWindow:
        return cls(now - retention, now + FUTURE_TOLERANCE)


@dataclass(frozen=True, slots=True)
class _Rules:
    kind: str
    bounds: Mapping[str, tuple[float, float]]
    personal: frozenset[str]
    daily: frozenset[str]  # personal fields under the key of the value's UTC day
    plain_fields: frozenset[str]
    events: Mapping[str, str]


def _rules(kind: Kind) -> _Rules:
    return _Rules(
        kind=kind.name,
        bounds={m.name: (m.min, m.max) for m in kind.metrics.values()},
        personal=kind.personal_fields,
        daily=kind.daily_key_fields,
        plain_fields=frozenset(f.name for f in kind.fields.values() if not f.personal),
        events={e.name: e.severity for e in kind.events.values()},
    )


class Validator:
    def __init__(self, catalogue: Catalogue, keys: PseudonymKeys) -> None:
        self._catalogue = catalogue
        self._keys = keys
        self._rules = {name: _rules(kind) for name, kind in catalogue.kinds.items()}
        self._ts_memo: dict[int | str, datetime] = {}

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue

    def _ts(self, reading: Mapping[str, Any], window: TimeWindow) -> datetime | Rejection:
        if "ts" not in reading:
            return Rejection("bad_timestamp", "a reading has no 'ts'")
        raw = reading["ts"]
        # Only ints and strings are memoised: as dict keys 1, 1.0 and True are one key.
        memo = raw.__class__ is int or raw.__class__ is str
        ts = self._ts_memo.get(raw) if memo else None
        if ts is None:
            try:
                ts = parse_ts(raw)
            except BadTimestamp as exc:
                return Rejection("bad_timestamp", str(exc))
            except OverflowError:  # an integer of hundreds of digits
                return Rejection("bad_timestamp", "ts in epoch milliseconds is out of range")
            if memo:
                if len(self._ts_memo) >= _TS_MEMO_SIZE:
                    self._ts_memo.clear()
                self._ts_memo[raw] = ts
        if ts > window.latest:
            return Rejection("future_timestamp", "ts is more than 5 minutes in the future")
        if ts < window.earliest:
            return Rejection("too_old", "ts is older than the telemetry retention period")
        return ts

    def _pseudonym(self, key: str, value: object, ts: datetime, rules: _Rules) -> str | Rejection:
        if not isinstance(value, str | int) or isinstance(value, bool):
            return Rejection("bad_value", f"{key!r} must be a string or integer")
        return self._keys.pseudonymise_at(str(value), ts, key in rules.daily)

    def _unknown_key(self, rules: _Rules, key: str) -> Rejection:
        owners = self._catalogue.kinds_with_metric(key)
        if owners:
            return Rejection(
                "wrong_kind",
                f"metric {key!r} belongs to {', '.join(owners)}; this device is {rules.kind}",
            )
        allowed = ", ".join(sorted(rules.bounds)) or "none"
        return Rejection(
            "unknown_metric", f"{key!r} is not a {rules.kind} metric (metrics: {allowed})"
        )

    def telemetry(
        self, device_id: str, kind: str, payload: object, window: TimeWindow,
        refused: list[Rejection] | None = None,
    ) -> tuple[list[TelemetryRow], str | None] | Rejection:
        """Rows for a telemetry payload, and the pseudonymous subject if one was named.
        FIWARE attributes refused one by one (ingest/fiware.py) are added to *refused*."""
        rules = self._rules[kind]
        readings = payload if isinstance(payload, list) else [payload]
        if not readings:
            return Rejection("bad_payload", "an empty array carries no readings")
        if len(readings) > MAX_READINGS_PER_MESSAGE:
            return Rejection(
                "too_many_readings", f"at most {MAX_READINGS_PER_MESSAGE} readings per message"
            )
        rows: list[TelemetryRow] = []
        subject: str | None = None
        bounds = rules.bounds
        for reading in readings:
            if not isinstance(reading, dict):
                return Rejection("bad_payload", "each reading must be a JSON object")
            if "type" in reading and fiware.is_entity(reading):
                converted = fiware.to_reading(reading, bounds)
                if isinstance(converted, Rejection):
                    return converted
                reading, problems = converted
                if problems:
                    if refused is None:  # a caller that cannot report them refuses all
                        return Rejection(problems[0].code, "; ".join(p.reason for p in problems))
                    refused.extend(problems)
            ts = self._ts(reading, window)
            if isinstance(ts, Rejection):
                return ts
            values = reading.get("values")
            if values is None:
                values = reading
            elif not isinstance(values, dict):
                return Rejection("bad_payload", "'values' must be a JSON object of metrics")
            elif len(reading) > 2 or "ts" not in reading:
                # Ignoring them would silently drop data, a personal field among it.
                return Rejection(
                    "bad_payload", "with 'values', put every metric and field inside 'values'"
                )
            count = len(rows)
            for key, value in values.items():
                limits = bounds.get(key)
                if limits is None:
                    if key in _RESERVED and values is reading:
                        continue
                    if key in rules.personal:
                        pseudonym = self._pseudonym(key, value, ts, rules)
                        if isinstance(pseudonym, Rejection):
                            return pseudonym
                        subject = pseudonym
                        continue
                    if key in rules.plain_fields:
                        continue
                    return self._unknown_key(rules, key)
                if value.__class__ is not float and (
                    value.__class__ is not int or isinstance(value, bool)
                ):
                    return Rejection("bad_value", f"{key!r} must be a number")
                try:
                    number = float(value)
                except OverflowError:  # an integer of hundreds of digits
                    number = math.inf if value > 0 else -math.inf
                if not limits[0] <= number <= limits[1]:
                    if math.isnan(number):
                        return Rejection("bad_value", f"{key!r} must be a number")
                    return Rejection(
                        "out_of_range",
                        f"{key}={number:g} is outside the valid range {limits[0]:g}..{limits[1]:g}",
                    )
                rows.append((ts, device_id, key, number))
            if len(rows) == count:
                return Rejection("bad_payload", "a reading carries no metric values")
        return rows, subject

    def events(
        self, device_id: str, kind: str, payload: object, window: TimeWindow
    ) -> list[Event] | Rejection:
        rules = self._rules[kind]
        items = payload if isinstance(payload, list) else [payload]
        if not items:
            return Rejection("bad_payload", "an empty array carries no events")
        rows: list[Event] = []
        for item in items:
            if not isinstance(item, dict):
                return Rejection("bad_payload", "each event must be a JSON object")
            ts = self._ts(item, window)
            if isinstance(ts, Rejection):
                return ts
            event_type = item.get("type")
            if not isinstance(event_type, str) or event_type not in rules.events:
                known = ", ".join(sorted(rules.events)) or "none"
                return Rejection(
                    "unknown_event_type", f"'type' must be one of the {kind} events: {known}"
                )
            confidence = item.get("confidence")
            if confidence is not None and (
                isinstance(confidence, bool)
                or not isinstance(confidence, int | float)
                or not 0.0 <= confidence <= 1.0
            ):
                return Rejection("bad_value", "'confidence' must be a number from 0 to 1")
            subject: str | None = None
            attributes: dict[str, Any] = {}
            for key, value in item.items():
                if key in _EVENT_RESERVED:
                    continue
                if key in rules.personal:
                    pseudonym = self._pseudonym(key, value, ts, rules)
                    if isinstance(pseudonym, Rejection):
                        return pseudonym
                    attributes[key] = pseudonym
                    subject = subject or pseudonym
                elif key in rules.plain_fields or key in rules.bounds:
                    if isinstance(value, dict | list):
                        return Rejection("bad_value", f"{key!r} must be a plain value")
                    attributes[key] = value
                else:
                    allowed = ", ".join(sorted(rules.plain_fields | rules.personal | set(rules.bounds)))
                    return Rejection(
                        "unknown_field", f"{key!r} is not a {kind} event field (fields: {allowed})"
                    )
            rows.append(
                Event(
                    ts, device_id, event_type, rules.events[event_type],
                    None if confidence is None else float(confidence), subject, attributes,
                )
            )
        return rows


def parse_status(payload: bytes) -> bool | Rejection:
    text = payload.strip().strip(b'"').lower()
    if text == b"online":
        return True
    if text == b"offline":
        return False
    return Rejection("bad_payload", "status must be 'online' or 'offline'")
