"""From command-line options to a ready simulation: fleet, kinds, clock, periods. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from devices.sim.clock import SimClock, default_start, parse_start
from devices.sim.errors import SimulationError
from devices.sim.fleet import SimDevice
from devices.sim.scenarios import Scenario
from hub.catalogue import Kind


def periods(fleet: Sequence[SimDevice], kinds: Mapping[str, Kind], speed: float,
            rate: float) -> dict[str, float]:
    """Wall seconds between two reports of one device, per kind.

    Without a rate, each device reports on its kind's interval of simulated time, so
    every ``interval_s / speed`` wall seconds. With a rate, the fleet together makes
    *rate* reports a wall second: every device every ``len(fleet) / rate`` seconds.
    """
    if speed <= 0:
        raise SimulationError("--speed must be above 0.")
    present = sorted({d.kind for d in fleet})
    if rate > 0:
        return {kind: len(fleet) / rate for kind in present}
    return {kind: kinds[kind].interval_s / speed for kind in present}


def make_clock(now: float, speed: float, duration: float, start: str | None,
               scenario: Scenario) -> SimClock:
    """The simulated clock of a run beginning at wall time *now* (see ``default_start``)."""
    if start is None:
        begin = default_start(now, speed, duration, scenario.start_local)
    else:
        begin = parse_start(start)
        if begin > now + 60:
            raise SimulationError(
                "--start is in the future; the hub rejects readings more than five minutes "
                "ahead. Give a past time, or leave --start out."
            )
    return SimClock(begin, speed, now)
