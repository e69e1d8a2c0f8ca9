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


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    received_at: datetime
    topic: str
    device_id: str | None
    payload: bytes
    code: str
    reason: str
