"""Crowd density: persons per m² in a zone from the counts of the cameras covering it. Pure.

A zone's area is the ground its cameras watch, in ``hub.zones`` (migration 0021, set with
`cityhub device zone set ZONE --area-m2 N`). The density at a moment is the newest count of
each of the zone's cameras read within the rule's window, summed, over that area: several
cameras watching one plaza add up. A zone without an area has no density (its rules stay
silent) rather than a guessed one.

The early warning is the density's rise: how far it is now above the lowest it was within
``rise_s`` (a crowd building up at a station exit climbs by several persons/m² in minutes,
while the rush hour does so over hours).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta

# The Korean crowd-safety guidance (docs/analytics.md): 4 persons/m² is the warning level,
# 5 the level at which a crowd crush becomes possible.
WARNING_PER_M2 = 4.0
CRITICAL_PER_M2 = 5.0


def density(window: Iterable[tuple[datetime, str, float]], area_m2: float) -> tuple[float, tuple[str, ...]]:
    """Persons per m² from (ts, device, count) in time order, and the devices counted."""
    newest: dict[str, float] = {}
    for _ts, device, count in window:
        newest[device] = count
    if not newest or area_m2 <= 0:
        return 0.0, ()
    return max(0.0, sum(newest.values())) / area_m2, tuple(sorted(newest))


class Rise:
    """The density's recent values: how far the newest is above the lowest within a span."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: deque[tuple[datetime, float]] = deque()

    def push(self, ts: datetime, value: float, span_s: float) -> float:
        self.values.append((ts, value))
        start = ts - timedelta(seconds=span_s)
        while len(self.values) > 1 and self.values[0][0] < start:
            self.values.popleft()
        return value - min(v for _, v in self.values)
