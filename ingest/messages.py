"""Values that flow through ingest, from the broker to the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hub.domain import Event

# Telemetry row in COPY column order: ts, device_id, metric, value.
TelemetryRow = tuple[datetime, str, str, float]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One MQTT message as handed over by the network thread."""

    topic: str
    payload: bytes
    mid: int
    # Which broker connection delivered it; a PUBACK is only valid on that connection.
    generation: int
    received_at: float


# Every reason code a dead letter may carry (docs/ingest.md explains each). A new
# code goes here, in the docs' table, in the AsyncAPI document's reply codes
# (devices/contract_asyncapi.py) and in tests/ingest/test_dead_letter_privacy.py; tests
# fail until it does.
DEAD_LETTER_CODES = (
    "malformed_json", "too_deep", "bad_topic", "unknown_device", "revoked_device",
    "wrong_kind", "unknown_metric", "unknown_field", "bad_value", "out_of_range",
    "bad_timestamp", "bad_unit", "future_timestamp", "too_old", "bad_payload",
    "too_many_readings", "not_behind_gateway", "unknown_event_type", "internal_error",
    "store_failed", "conflict",
)


@dataclass(frozen=True, slots=True)
class Rejection:
    code: str
    reason: str


@dataclass(slots=True)
class Accepted:
    """What one valid message adds to the hub."""

    device_id: str
    readings: list[TelemetryRow] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    online: bool | None = None
    # Pseudonymous subject (household, person) per device, from personal fields.
    subjects: dict[str, str] = field(default_factory=dict)
    first_ts: datetime | None = None
    # FIWARE attributes refused one by one while the rest of the message is kept.
    refused: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    received_at: datetime
    topic: str
    device_id: str | None
    payload: bytes
    code: str
    reason: str
