"""What a committed batch tells the rest of the hub through NOTIFY. Pure.

The channels and payloads are defined once, in :mod:`hub.notify`, which analytics and the
console's live view decode with; this module only finds what a batch touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter

from hub.notify import DEVICE_STATUS, EVENTS, TELEMETRY, StatusNote, encode_range, encode_status

_TIME = itemgetter(0)
_DEVICE = itemgetter(1)


def _range(channel: str, rows: Sequence[tuple[datetime, str, *tuple[object, ...]]]
           ) -> tuple[str, str]:
    # map() over itemgetter walks a gateway batch's 200,000 rows without a Python frame
    # per row.
    earliest: datetime = min(map(_TIME, rows))
    latest: datetime = max(map(_TIME, rows))
    return channel, encode_range(earliest, latest, set(map(_DEVICE, rows)))


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
        out.append((DEVICE_STATUS, encode_status(StatusNote(device_id, is_online))))
    return out
