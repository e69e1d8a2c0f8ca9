"""Simulated time: a start, a speed, and local (Korean) calendar helpers. Pure."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from devices.sim.errors import SimulationError

KST = timezone(timedelta(hours=9), "KST")
_KST_S = 9 * 3600
DAY_S = 86_400.0


def local_hour(t: float) -> float:
    """Hour of the day in Seoul (0 ≤ h < 24) at epoch second *t*."""
    return ((t + _KST_S) % DAY_S) / 3600.0


def weekday(t: float) -> int:
    """Day of the week in Seoul, Monday = 0 (1970-01-01 was a Thursday)."""
    return int(((t + _KST_S) // DAY_S + 3) % 7)


def day_of_year(t: float) -> float:
    """Day of the year in Seoul (1 = 1 January) at epoch second *t*."""
    return _day_of_year(int((t + _KST_S) // DAY_S))


@functools.lru_cache(maxsize=64)
def _day_of_year(kst_day: int) -> float:
    # Asked for every reading; a datetime is built once per Seoul day, not per call.
    return float(datetime.fromtimestamp(kst_day * DAY_S - _KST_S, KST).timetuple().tm_yday)


def bump(hour: float, centre: float, width: float) -> float:
    """A daily peak: 1 at *centre* o'clock, falling off over *width* hours (circular)."""
    d = abs(hour - centre) % 24.0
    d = min(d, 24.0 - d)
    return math.exp(-0.5 * (d / width) ** 2)


def iso(t: float) -> str:
    """ISO-8601 UTC with milliseconds, as written into the ground truth."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def parse_start(text: str) -> float:
    """Epoch seconds of an ISO-8601 date/time; naive times are read as Seoul time."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SimulationError(
            f"--start {text!r} is not an ISO-8601 time, e.g. 2025-03-14T06:00+09:00."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=KST)
    return moment.timestamp()


def latest_local(before: float, hhmm: str) -> float:
    """The latest moment ≤ *before* at which Seoul's clock shows *hhmm*."""
    hours, minutes = (int(x) for x in hhmm.split(":"))
    day = datetime.fromtimestamp(before, KST).replace(hour=hours, minute=minutes, second=0,
                                                     microsecond=0)
    if day.timestamp() > before:
        day -= timedelta(days=1)
    return day.timestamp()


def default_start(now: float, speed: float, duration: float, start_local: str | None) -> float:
    """Where simulated time starts when --start is not given.

    Faster than real time, the run replays the recent past so that it ends near *now*
    (the hub rejects readings more than five minutes in the future): with a duration,
    ``now - speed × duration``; without one, a day ago. A scenario may ask to begin at a
    time of day (a night-time fire): then the latest such time before that.
    """
    latest = now
    if speed > 1:
        latest = now - (speed * duration if duration > 0 else DAY_S)
    return latest_local(latest, start_local) if start_local else latest


@dataclass(frozen=True, slots=True)
class SimClock:
    """Simulated epoch seconds as a function of elapsed wall seconds.

    Runs at *speed* from *start* but never ahead of the real clock: once it has caught
    up with the wall time it follows it, so every timestamp stays acceptable to the hub.
    """

    start: float
    speed: float
    wall_start: float  # epoch seconds when the run began

    def at(self, elapsed: float) -> float:
        simulated = self.start + elapsed * self.speed
        real = self.wall_start + elapsed
        if simulated > real and self.start <= self.wall_start:
            return real
        return simulated
