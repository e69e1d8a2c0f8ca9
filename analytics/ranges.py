"""Which rows a notification asks the rules to look at. Pure.

Ingest notifies a time range and the devices in it per committed batch (the payload is
defined and decoded by :mod:`hub.notify`). Notifications that arrive together are merged
into one range so a busy stream costs one query, not one per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.notify import BadNotice, decode_range


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime
    end: datetime | None  # None: up to the newest row
    devices: frozenset[str] | None  # None: every device


def parse_notice(payload: str) -> TimeRange | None:
    """The range a notification names, or None when it is not one we understand."""
    try:
        note = decode_range(payload)
    except BadNotice:
        return None
    return TimeRange(note.start, note.end, note.devices)


def coalesce(ranges: Iterable[TimeRange]) -> TimeRange | None:
    """One range covering all of *ranges* (every device if any of them says so)."""
    merged: TimeRange | None = None
    for r in ranges:
        if merged is None:
            merged = r
            continue
        end = None if merged.end is None or r.end is None else max(merged.end, r.end)
        devices = None if merged.devices is None or r.devices is None else merged.devices | r.devices
        merged = TimeRange(min(merged.start, r.start), end, devices)
    return merged
