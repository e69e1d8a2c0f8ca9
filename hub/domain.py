"""The hub's own value types. Library types never travel past the module that met them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: str
    zone: str | None
    lat: float | None
    lon: float | None
    gateway_id: str | None
    status: str
    online: bool | None
    created_at: datetime
    revoked_at: datetime | None
    last_seen: datetime | None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Reading:
    ts: datetime
    device_id: str
    metric: str
    value: float


@dataclass(frozen=True, slots=True)
class Event:
    ts: datetime
    device_id: str
    type: str
    severity: str
    confidence: float | None
    subject: str | None
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    payload: bytes
    reason_code: str
    reason: str
    replayed_at: datetime | None
    replay_result: str | None
