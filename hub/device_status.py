"""Whether a device is connected, decided when it is read (no background writer).

Two facts are stored in ``hub.devices`` by ingest: ``online`` (from the device's
retained status topic and its MQTT last will) and ``last_seen`` (its last message,
written at most every 30 s). A device that died without its broker noticing (a cut
cable, a NAT timeout before keep-alive expires) never sends its will, so silence also
counts: no message for ``SILENCE_FACTOR`` × its kind's reporting interval means offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from hub.domain import Device

Connection = Literal["online", "offline", "never"]

# Three missed reports: one late or lost message does not flip a device offline.
SILENCE_FACTOR = 3


@dataclass(frozen=True, slots=True)
class DeviceState:
    device: Device
    interval_s: int
    connection: Connection


def connection_state(
    online: bool | None, last_seen: datetime | None, interval_s: int, now: datetime
) -> Connection:
    if online is False:
        return "offline"
    if last_seen is None:
        # A status message without data yet: trust it until data shows otherwise.
        return "online" if online else "never"
    if now - last_seen > timedelta(seconds=SILENCE_FACTOR * interval_s):
        return "offline"
    return "online"
