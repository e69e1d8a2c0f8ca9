"""Conflicts: a reading or event whose key is already stored with another value.

The key of a reading is (device, metric, ts), of an event (device, type, ts). The same
value again is a redelivery and stays silent; a different value is never written over
the stored one, nor dropped unsaid: the message that carried it becomes a ``conflict``
dead letter and its device is told on its errors topic, naming the key. The store finds
the conflicting rows (ingest/store.py); this module finds the messages that carried
them, by planning again only the messages of the devices involved, which is rare work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hub.domain import Event
from ingest.messages import Rejection, TelemetryRow
from ingest.pipeline import Decoded, Planner
from ingest.validate import DeviceInfo, TimeWindow

CODE = "conflict"
# Keys named in one reason; a vendor fixing a clock needs a few, not ten thousand.
KEYS_NAMED = 3


@dataclass(frozen=True, slots=True)
class Conflicts:
    """Rows of a plan that were not stored because their key holds another value."""

    readings: tuple[TelemetryRow, ...] = ()
    events: tuple[Event, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.readings or self.events)

    def __add__(self, other: Conflicts) -> Conflicts:
        return Conflicts(self.readings + other.readings, self.events + other.events)


def _reason(readings: Sequence[TelemetryRow], events: Sequence[Event]) -> str:
    # Keys only: a value (an event's subject or attributes) may be personal.
    keys = sorted({(ts.isoformat(), device_id, f"metric {metric!r}")
                   for ts, device_id, metric, _ in readings}
                  | {(e.ts.isoformat(), e.device_id, f"event type {e.type!r}") for e in events})
    named = "; ".join(f"device {device_id!r}, {what}, ts {ts}"
                      for ts, device_id, what in keys[:KEYS_NAMED])
    more = f" and {len(keys) - KEYS_NAMED} more" if len(keys) > KEYS_NAMED else ""
    return (f"a different value is already stored at {named}{more}; the stored value is "
            "kept (a value is never overwritten)")


def rejections(planner: Planner, decoded: Sequence[Decoded], devices: Mapping[str, DeviceInfo],
               window: TimeWindow, found: Conflicts) -> list[tuple[int, Rejection]]:
    """(index in *decoded*, rejection) of each message that carried a row of *found*."""
    involved = {row[1] for row in found.readings} | {e.device_id for e in found.events}
    readings = set(found.readings)
    out: list[tuple[int, Rejection]] = []
    for index, item in enumerate(decoded):
        if involved.isdisjoint(item.device_ids):
            continue
        # Planning is deterministic: the message yields exactly the rows it yielded before.
        plan = planner.plan([item], devices, window)
        hit_readings = [r for r in plan.readings if r in readings]
        hit_events = [e for e in plan.events if e in found.events]
        if hit_readings or hit_events:
            out.append((index, Rejection(CODE, _reason(hit_readings, hit_events))))
    return out

