"""Readings, events and timestamps as the hub's JSON. Pure: no network, no clock of its own."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from devices.sdk.errors import InvalidPayload

PREFIX = "cityhub/v1"
# The hub refuses messages with more readings than this; longer batches are split.
MAX_READINGS_PER_MESSAGE = 10_000

Timestamp = datetime | int
Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading: a time and metric values (plus a kind's extra fields, e.g. household_id)."""

    ts: Timestamp
    values: Mapping[str, Scalar]


@dataclass(frozen=True, slots=True)
class Event:
    ts: Timestamp
    type: str
    confidence: float | None = None
    attributes: Mapping[str, Scalar] = field(default_factory=dict)


def encode_ts(ts: Timestamp) -> str | int:
    """An aware datetime becomes ISO-8601 with its offset; an int is epoch milliseconds."""
    if isinstance(ts, bool):
        raise InvalidPayload("a timestamp must be an aware datetime or epoch milliseconds, not a bool")
    if isinstance(ts, datetime):
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise InvalidPayload(
                "a datetime without a time zone is ambiguous; use datetime.now(UTC) or give an offset"
            )
        return ts.isoformat()
    if isinstance(ts, int):
        if ts < 0:
            raise InvalidPayload("epoch milliseconds must not be negative")
        return ts
    raise InvalidPayload(
        f"a timestamp must be an aware datetime or epoch milliseconds, not {type(ts).__name__}"
    )


def reading_json(reading: Reading) -> dict[str, object]:
    if not reading.values:
        raise InvalidPayload("a reading needs at least one metric value")
    if "ts" in reading.values or "values" in reading.values:
        raise InvalidPayload("'ts' and 'values' are reserved; give the time as the reading's ts")
    return {"ts": encode_ts(reading.ts), **reading.values}


def event_json(event: Event) -> dict[str, object]:
    document: dict[str, object] = {"ts": encode_ts(event.ts), "type": event.type}
    if event.confidence is not None:
        if not 0.0 <= event.confidence <= 1.0:
            raise InvalidPayload("an event's confidence must be from 0 to 1")
        document["confidence"] = event.confidence
    reserved = {"ts", "type", "confidence"} & set(event.attributes)
    if reserved:
        raise InvalidPayload(f"event attributes must not be named {sorted(reserved)}")
    document.update(event.attributes)
    return document


def events_json(events: Sequence[Event]) -> list[dict[str, object]]:
    """A batch of events as one message; an empty batch is refused before sending."""
    if not events:
        raise InvalidPayload("no events to send")
    return [event_json(e) for e in events]


def encode(document: object) -> bytes:
    try:
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except ValueError as exc:  # NaN or infinity: JSON has no such numbers
        raise InvalidPayload(f"a value is not a finite number: {exc}") from exc
    except TypeError as exc:
        raise InvalidPayload(f"a value cannot be sent as JSON: {exc}") from exc


def chunks(
    readings: Sequence[Reading], size: int = MAX_READINGS_PER_MESSAGE
) -> list[list[dict[str, object]]]:
    """Readings as JSON objects, split into messages the hub accepts."""
    if not readings:
        raise InvalidPayload("no readings to send")
    documents = [reading_json(r) for r in readings]
    return [documents[i:i + size] for i in range(0, len(documents), size)]


def gateway_json(readings: Mapping[str, Sequence[Reading]]) -> dict[str, list[dict[str, object]]]:
    if not readings:
        raise InvalidPayload("a gateway message needs at least one device")
    document: dict[str, list[dict[str, object]]] = {}
    for device_id, device_readings in readings.items():
        if not device_readings:
            raise InvalidPayload(f"no readings for device {device_id!r}")
        if len(device_readings) > MAX_READINGS_PER_MESSAGE:
            raise InvalidPayload(f"{len(device_readings)} readings for {device_id!r} in one message; "
                                 f"the hub takes at most {MAX_READINGS_PER_MESSAGE} per device")
        document[device_id] = [reading_json(r) for r in device_readings]
    return document


def topic(device_id: str, channel: str) -> str:
    if not device_id or any(ch in device_id for ch in "/+#"):
        raise InvalidPayload(f"device id {device_id!r} is not a single MQTT topic level")
    return f"{PREFIX}/{device_id}/{channel}"


def gateway_topic(gateway_id: str) -> str:
    topic(gateway_id, "telemetry")  # same rules for the id
    return f"{PREFIX}/gateway/{gateway_id}/telemetry"


def parse_rejection(payload: bytes) -> tuple[str, str, str, str] | None:
    """(topic, code, reason, received_at) of an errors-topic reply, or None if malformed."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    parts = tuple(document.get(k) for k in ("topic", "code", "reason", "received_at"))
    if not all(isinstance(p, str) for p in parts):
        return None
    return parts  # type: ignore[return-value]

