"""A scenario resolved against a fleet: concrete anomalies with devices and times. Pure."""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from devices.sim.fleet import SimDevice
from devices.sim.scenarios import ONE_SHOT, Injection, Scenario

# Picks the devices an injection may take from the candidates of its kind.
Eligible = Callable[[Injection, SimDevice], bool]


@dataclass(frozen=True, slots=True)
class Anomaly:
    id: int
    label: str
    scenario: str
    device_ids: tuple[str, ...]
    start: float  # simulated epoch seconds
    end: float
    params: Mapping[str, float | str]
    cycle: int = 0

    def active(self, t: float) -> bool:
        return self.start <= t < self.end

    def number(self, key: str, default: float) -> float:
        value = self.params.get(key, default)
        return float(value) if isinstance(value, int | float) else default

    def text(self, key: str, default: str) -> str:
        value = self.params.get(key, default)
        return value if isinstance(value, str) else default


@dataclass(frozen=True, slots=True)
class Transition:
    at: float
    starting: bool  # False: ending
    anomaly: Anomaly


def _resolve(scenario: Scenario, fleet: Sequence[SimDevice], seed: int, start: float,
             eligible: Eligible) -> list[Anomaly]:
    rng = random.Random(f"{seed}:scenario:{scenario.name}")
    # (label, device) → the windows it is taken for: a device has one anomaly of a label at
    # a time, but may have it again later (the demo's incidents come round again).
    taken: dict[tuple[str, str], list[tuple[float, float]]] = {}
    busy: set[str] = set()
    anomalies: list[Anomaly] = []
    for n, injection in enumerate(scenario.injections):
        begin = start + injection.at_s
        window = (begin, begin + injection.duration_s)
        candidates = [d for d in fleet if d.kind == injection.kind and eligible(injection, d)
                      and not _overlaps(taken.get((injection.label, d.id), ()), window)]
        if injection.devices == 0:
            picked = candidates
        else:
            # Prefer devices no other injection took, so faults do not mask each other.
            fresh = [d for d in candidates if d.id not in busy]
            pool = fresh if len(fresh) >= injection.devices else candidates
            picked = rng.sample(pool, min(injection.devices, len(pool)))
        if not picked:
            continue
        for d in picked:
            taken.setdefault((injection.label, d.id), []).append(window)
            busy.add(d.id)
        # A one-shot fault happens at the device's first report after its start, however
        # long the device takes to report.
        end = float("inf") if injection.label in ONE_SHOT else window[1]
        anomalies.append(Anomaly(
            n + 1, injection.label, scenario.name, tuple(d.id for d in picked),
            begin, end, dict(injection.params),
        ))
    return anomalies


def _overlaps(windows: Sequence[tuple[float, float]], window: tuple[float, float]) -> bool:
    return any(start < window[1] and window[0] < end for start, end in windows)


class Schedule:
    """Which anomalies are active for a device at a time, and when they start and end."""

    def __init__(self, scenario: Scenario, fleet: Sequence[SimDevice], seed: int, start: float,
                 eligible: Eligible = lambda _i, _d: True) -> None:
        self.scenario = scenario
        self.start = start
        self.base = _resolve(scenario, fleet, seed, start, eligible)
        self._repeat = scenario.repeat_s
        self._by_device: dict[str, list[Anomaly]] = {}
        for anomaly in self.base:
            for device_id in anomaly.device_ids:
                self._by_device.setdefault(device_id, []).append(anomaly)
        self._shifted: dict[tuple[int, int], Anomaly] = {}
        self._timeline: list[tuple[float, int, Transition]] = []
        self._next = 0
        self._cycles_added = 0
        self._add_cycle()

    def _shift(self, anomaly: Anomaly, cycle: int) -> Anomaly:
        if cycle == 0:
            return anomaly
        key = (anomaly.id, cycle)
        shifted = self._shifted.get(key)
        if shifted is None:
            offset = cycle * (self._repeat or 0.0)
            shifted = replace(anomaly, start=anomaly.start + offset, end=anomaly.end + offset,
                              cycle=cycle)
            self._shifted[key] = shifted
        return shifted

    def _add_cycle(self) -> None:
        cycle = self._cycles_added
        self._cycles_added += 1
        for anomaly in self.base:
            a = self._shift(anomaly, cycle)
            for item in ((a.start, 1, Transition(a.start, True, a)), (a.end, 0, Transition(a.end, False, a))):
                bisect.insort(self._timeline, item, lo=self._next, key=lambda x: (x[0], x[1]))

    def _cycle(self, t: float) -> int:
        if not self._repeat or t < self.start:
            return 0
        return int((t - self.start) // self._repeat)

    def active(self, device_id: str, t: float) -> list[Anomaly]:
        """Anomalies of *device_id* in force at simulated time *t*."""
        mine = self._by_device.get(device_id)
        if not mine:
            return []
        cycle = self._cycle(t)
        return [a for a in mine if a.start <= t < a.end] if cycle == 0 else [
            s for a in mine for k in (cycle, cycle - 1) if k >= 0
            for s in (self._shift(a, k),) if s.start <= t < s.end
        ]

    def transitions(self, t: float) -> list[Transition]:
        """Starts and ends at or before *t* not returned before, in time order."""
        while self._repeat and self._cycles_added <= self._cycle(t) + 1:
            self._add_cycle()
        out: list[Transition] = []
        while self._next < len(self._timeline) and self._timeline[self._next][0] <= t:
            out.append(self._timeline[self._next][2])
            self._next += 1
        return out
