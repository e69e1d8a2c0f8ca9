"""What a committed batch tells the rest of the hub through NOTIFY. Pure.

Listeners (analytics rules, the console's live view) learn which devices and which
time range a batch touched and read the rows themselves, so a payload stays small
whatever the batch size. PostgreSQL caps a payload near 8,000 bytes: past the
budget the device list is dropped and ``null`` means "any device in the range".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter

import msgspec

TELEMETRY = "hub_telemetry"
EVENTS = "hub_events"
DEVICE_STATUS = "hub_device_status"
PAYLOAD_BUDGET = 7_000

_encode = msgspec.json.Encoder().encode


_TIME = itemgetter(0)
_DEVICE = itemgetter(1)


def _range(channel: str, rows: Sequence[tuple[datetime, str, *tuple[object, ...]]]
           ) -> tuple[str, str]:
    # map() over itemgetter walks a gateway batch's 200,000 rows without a Python frame
    # per row.
    earliest: datetime = min(map(_TIME, rows))
    latest: datetime = max(map(_TIME, rows))
    listed: list[str] | None = sorted(set(map(_DEVICE, rows)))
    payload = {"from": earliest.isoformat(), "to": latest.isoformat(), "devices": listed}
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
    if readings:
        out.append(_range(TELEMETRY, readings))
    if events:
        out.append(_range(EVENTS, events))
    for device_id, is_online in online.items():
        out.append((DEVICE_STATUS, _encode({"device_id": device_id, "online": is_online}).decode()))
    return out
