"""Household smart meters: cumulative kWh, kW and voltage. Pure apart from its state.

Each meter belongs to a household with a profile, drawn from the seed:

| profile | share | at home | load |
|---|---|---|---|
| family | 45 % | except weekdays 09–16 | morning and evening peaks, 1.4 kW scale |
| single_worker | 30 % | weekdays before 08 and after 19, weekends | 0.8 kW scale |
| single_elderly | 15 % | always | 0.5 kW scale, daytime activity |
| vacant | 10 % | never | the fridge only |

Power = base load (fridge, standby) + activity while someone is at home and awake,
plus summer cooling; energy integrates power between reports, so it only grows.
Anomalies: *theft* meters only a fraction of the real consumption while the home is
as occupied as ever; a *meter_fault* resets the register to zero and sags the
voltage; an *inactive_household* (a person living alone) shows no activity at all.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from devices.sim.clock import bump, day_of_year, local_hour, weekday
from devices.sim.fleet import SimDevice
from devices.sim.schedule import Anomaly

PROFILES = (("family", 0.45), ("single_worker", 0.30), ("single_elderly", 0.15), ("vacant", 0.10))
_SCALE = {"family": 1.4, "single_worker": 0.8, "single_elderly": 0.5, "vacant": 0.0}


def profile_of(device_id: str, seed: int) -> str:
    draw = random.Random(f"{seed}:household:{device_id}").random()
    for name, share in PROFILES:
        if draw < share:
            return name
        draw -= share
    return PROFILES[-1][0]


def occupied(profile: str, t: float) -> bool:
    """Whether someone is at home."""
    h = local_hour(t)
    workday = weekday(t) < 5
    if profile == "vacant":
        return False
    if profile == "family":
        return not (workday and 9.0 <= h < 16.0)
    if profile == "single_worker":
        return not workday or h < 8.0 or h >= 19.0
    return True


def activity(profile: str, t: float) -> float:
    """Relative use of appliances (0..~2.5) for a household at home, awake or not."""
    h = local_hour(t)
    if profile == "single_elderly":
        return 0.25 + 0.6 * bump(h, 8.0, 1.5) + 0.5 * bump(h, 13.0, 2.5) + 0.8 * bump(h, 19.0, 2.0)
    asleep = 0.15 if 0.5 <= h < 6.0 else 1.0
    return asleep * (0.3 + 1.0 * bump(h, 7.5, 1.0) + 1.6 * bump(h, 20.5, 2.2))


@dataclass(slots=True)
class Meter:
    household_id: str
    profile: str
    base_kw: float
    energy_kwh: float
    last_t: float | None = None
    reset_done: int = -1  # cycle of the meter_fault that last reset the register


class SmartMeterModel:
    def __init__(self, devices: Sequence[SimDevice], seed: int) -> None:
        self.meters: dict[str, Meter] = {}
        for d in devices:
            rng = random.Random(f"{seed}:meter:{d.id}")
            self.meters[d.id] = Meter(
                household_id=f"HH-{rng.getrandbits(40):010x}",
                profile=profile_of(d.id, seed),
                base_kw=rng.uniform(0.05, 0.14),
                energy_kwh=rng.uniform(2_000.0, 40_000.0),
            )

    def true_power(self, meter: Meter, t: float, rng: random.Random, inactive: bool = False) -> float:
        """What the household really draws (kW)."""
        kw = meter.base_kw * (1.0 + rng.gauss(0, 0.05))
        if occupied(meter.profile, t) and not inactive:
            season = max(0.0, math.cos(2 * math.pi * (day_of_year(t) - 210) / 365.0))
            cooling = 0.9 * season**3 * bump(local_hour(t), 16.0, 4.0)
            kw += _SCALE[meter.profile] * (activity(meter.profile, t) + cooling) * (1.0 + rng.gauss(0, 0.15))
        return max(0.0, kw)

    def reading(self, device_id: str, t: float, rng: random.Random,
                anomalies: Sequence[Anomaly] = ()) -> dict[str, float | str]:
        meter = self.meters[device_id]
        inactive = theft = fault = False
        factor = 1.0
        for anomaly in anomalies:
            if anomaly.label == "inactive_household":
                inactive = True
            elif anomaly.label == "theft":
                theft = True
                factor = anomaly.number("factor", 0.25)
            elif anomaly.label == "meter_fault":
                fault = True
                if meter.reset_done != anomaly.cycle:
                    meter.reset_done = anomaly.cycle
                    meter.energy_kwh = 0.0
        kw = self.true_power(meter, t, rng, inactive)
        if theft:
            kw *= factor  # the bypass carries the rest past the meter
        hours = 0.0 if meter.last_t is None else max(0.0, t - meter.last_t) / 3600.0
        meter.last_t = t
        meter.energy_kwh += kw * hours
        voltage = 221.0 - 1.5 * kw + rng.gauss(0, 1.0)
        if fault:
            voltage = 175.0 + rng.gauss(0, 6.0)
        return {
            "energy_kwh": round(meter.energy_kwh, 3),
            "power_kw": round(kw, 3),
            "voltage": round(voltage, 1),
            "household_id": meter.household_id,
        }
