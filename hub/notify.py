"""The hub's NOTIFY channels and their payloads: the one definition senders and listeners share. Pure.

=================== ================================================ ======================
channel             payload (JSON object)                            sent by
=================== ================================================ ======================
``hub_telemetry``   ``{"from": ISO, "to": ISO, "devices": [...]}``   ingest, per committed batch
``hub_events``      the same, for events                             ingest, per committed batch
``hub_device_status`` ``{"device_id": str, "online": bool}``         ingest
``hub_alerts``      ``{"alert_id", "seq", "state", "severity"}``     hub.alert_store, per change
``hub_rules``       the rule's id (plain text)                       analytics.store, per edit
=================== ================================================ ======================

A range names the time span and the devices a batch touched; listeners (analytics, the
console's live view) read the rows themselves, so a payload stays small whatever the batch
size. PostgreSQL caps a payload near 8,000 bytes: past :data:`PAYLOAD_BUDGET` the device list
is dropped and ``"devices": null`` means "any device in the range".

Decoding raises :class:`BadNotice` (a :class:`hub.errors.HubError`) for a payload that is not
what its channel carries; a listener logs it and goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import msgspec

from hub.errors import HubError

TELEMETRY = "hub_telemetry"
EVENTS = "hub_events"
DEVICE_STATUS = "hub_device_status"
ALERTS = "hub_alerts"
RULES = "hub_rules"
RANGE_CHANNELS = (TELEMETRY, EVENTS)
PAYLOAD_BUDGET = 7_000


class BadNotice(HubError):
    """A notification payload is not what its channel carries."""


@dataclass(frozen=True, slots=True)
class RangeNote:
    start: datetime  # timezone-aware
    end: datetime  # not before start
    devices: frozenset[str] | None  # None: any device in the range


@dataclass(frozen=True, slots=True)
class StatusNote:
    device_id: str
    online: bool


@dataclass(frozen=True, slots=True)
class AlertNote:
    alert_id: int
    seq: int
    state: str
    severity: str


# The wire shapes; msgspec checks the types while decoding.
class _RangeWire(msgspec.Struct):
    start: datetime = msgspec.field(name="from")
    end: datetime = msgspec.field(name="to")
    devices: list[str] | None = None


class _StatusWire(msgspec.Struct):
    device_id: str
    online: bool


class _AlertWire(msgspec.Struct):
    alert_id: int
    seq: int
    state: str
    severity: str


_encode = msgspec.json.Encoder().encode
_range_decoder = msgspec.json.Decoder(_RangeWire)
_status_decoder = msgspec.json.Decoder(_StatusWire)
_alert_decoder = msgspec.json.Decoder(_AlertWire)


def encode_range(start: datetime, end: datetime, devices: Iterable[str]) -> str:
    """A ``hub_telemetry`` / ``hub_events`` payload; the devices are listed sorted, or left
    out (``null``) when listing them would pass the budget."""
    payload: dict[str, object] = {"from": start.isoformat(), "to": end.isoformat(),
                                  "devices": sorted(set(devices))}
    encoded = _encode(payload)
    if len(encoded) > PAYLOAD_BUDGET:
        payload["devices"] = None
        encoded = _encode(payload)
    return encoded.decode()


def encode_status(note: StatusNote) -> str:
    return _encode({"device_id": note.device_id, "online": note.online}).decode()


def encode_alert(note: AlertNote) -> str:
    return json.dumps({"alert_id": note.alert_id, "seq": note.seq, "state": note.state,
                       "severity": note.severity})


def decode_range(payload: str | bytes) -> RangeNote:
    try:
        wire = _range_decoder.decode(payload)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise BadNotice(f"Not a time-range notification: {exc}.") from exc
    if wire.start.tzinfo is None or wire.end.tzinfo is None:
        raise BadNotice("A time-range notification must give times with their offset.")
    if wire.end < wire.start:
        raise BadNotice("A time-range notification must not end before it starts.")
    return RangeNote(wire.start, wire.end, None if wire.devices is None else frozenset(wire.devices))


def decode_status(payload: str | bytes) -> StatusNote:
    try:
        wire = _status_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise BadNotice(f"Not a device-status notification: {exc}.") from exc
    return StatusNote(wire.device_id, wire.online)


def decode_alert(payload: str | bytes) -> AlertNote:
    try:
        wire = _alert_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise BadNotice(f"Not an alert-change notification: {exc}.") from exc
    return AlertNote(wire.alert_id, wire.seq, wire.state, wire.severity)
