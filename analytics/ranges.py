"""Which rows a notification asks the rules to look at. Pure.

Ingest notifies ``{"from": ISO, "to": ISO, "devices": [...] | null}`` per committed
batch (``null``: any device in the range). Notifications that arrive together are
merged into one range so a busy stream costs one query, not one per batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime
    end: datetime | None  # None: up to the newest row
    devices: frozenset[str] | None  # None: every device


def parse_notice(payload: str) -> TimeRange | None:
    """The range a notification names, or None when it is not one we understand."""
    try:
        data = json.loads(payload)
        start = datetime.fromisoformat(data["from"])
        end = datetime.fromisoformat(data["to"])
        devices = data.get("devices")
    except (ValueError, KeyError, TypeError):
        return None
    if start.tzinfo is None or end.tzinfo is None or end < start:
        return None
    if devices is None:
        return TimeRange(start, end, None)
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        return None
    return TimeRange(start, end, frozenset(devices))


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
