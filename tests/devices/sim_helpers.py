"""Building seeded simulators for the simulator tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from devices.sim.clock import KST
from devices.sim.fleet import SimDevice, build_fleet
from devices.sim.scenarios import scenario
from devices.sim.simulator import Outgoing, Simulator
from hub.catalogue import Kind, load_catalogue

# A Monday in spring, 00:00 in Seoul.
START = datetime(2025, 3, 17, tzinfo=KST).timestamp()


def kinds() -> Mapping[str, Kind]:
    return load_catalogue().kinds


def make(names: list[str], counts: dict[str, int], seed: int = 7,
         start: float = START) -> tuple[Simulator, list[SimDevice]]:
    fleet = build_fleet(counts, seed)
    return Simulator(fleet, kinds(), scenario(names), seed, start), fleet


def run(sim: Simulator, fleet: list[SimDevice], hours: float, step_s: float = 60.0,
        start: float = START) -> list[tuple[float, Outgoing]]:
    """Every device reports every *step_s* simulated seconds for *hours*."""
    out: list[tuple[float, Outgoing]] = []
    t = start
    while t < start + hours * 3600:
        sim.transitions(t)
        for device in fleet:
            out.extend((t, m) for m in sim.report(device.id, t))
        t += step_s
    return out
