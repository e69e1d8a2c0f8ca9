"""What a committed batch tells the rest of the hub through NOTIFY. Pure.

Listeners (analytics rules, the console's live view) learn which devices and which
time range a batch touched and read the rows themselves, so a payload stays small
whatever the batch size. PostgreSQL caps a payload near 8,000 bytes: past the
budget the device list is dropped and ``null`` means "any device in the range".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

TELEMETRY = "hub_telemetry"
EVENTS = "hub_events"
DEVICE_STATUS = "hub_device_status"
PAYLOAD_BUDGET = 7_000

_encode = msgspec.json.Encoder().encode


def _range(channel: str, times: list[datetime], devices: set[str]) -> tuple[str, str]:
    listed: list[str] | None = sorted(devices)
    payload = {"from": min(times).isoformat(), "to": max(times).isoformat(), "devices": listed}
    encoded = _encode(payload)
    if len(encoded) > PAYLOAD_BUDGET:
        payload["devices"] = None
        encoded = _encode(payload)
    return channel, encoded.decode()


def notifications(
    readings: Sequence[tuple[datetime, str, str, float]],
    events: Sequence[tuple[datetime, str]],
    online: Mapping[str, bool],
) -> list[tuple[str, str]]:
    """(channel, payload) pairs for one batch, in the order they should be sent."""
    out: list[tuple[str, str]] = []
    times = [r[0] for r in readings]
    if times:
        out.append(_range(TELEMETRY, times, {r[1] for r in readings}))
    if events:
        out.append(_range(EVENTS, [e[0] for e in events], {e[1] for e in events}))
    for device_id, is_online in online.items():
        out.append((DEVICE_STATUS, _encode({"device_id": device_id, "online": is_online}).decode()))
    return out
