"""Weeks of air-quality history in one call, for training and scoring forecasts. Pure.

The same station model as the live simulator (``air_quality``), sampled every ``step_s``
seconds instead of published: readings as (time, device, metric, value) rows to copy into
``hub.telemetry``. Asian-dust plumes come at random days and hours (seeded), so the history
holds the rising episodes a forecast must learn.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from devices.sim.air_quality import AirQualityModel
from devices.sim.fleet import SimDevice
from devices.sim.schedule import Anomaly

HOUR = 3600.0


def dust_plumes(start: float, end: float, seed: int, *, every_s: float = 4 * 86_400.0,
                peak: float = 300.0) -> list[Anomaly]:
    """About one Asian-dust plume per *every_s*, each 4 to 10 hours long, at a random time."""
    rng = random.Random(f"{seed}:history:dust")
    plumes: list[Anomaly] = []
    t = start + rng.uniform(0.2, 1.0) * every_s
    while t < end:
        length = rng.uniform(4, 10) * HOUR
        plumes.append(Anomaly(len(plumes), "asian_dust", "history", (), t, t + length,
                              {"peak": peak * rng.uniform(0.6, 1.2), "ramp_s": rng.uniform(1, 3) * HOUR,
                               "speed_kmh": rng.uniform(15, 30)}))
        t += rng.uniform(0.5, 1.5) * every_s
    return plumes


def air_quality_history(devices: Sequence[SimDevice], start: float, end: float, *, seed: int,
                        step_s: float = 900.0, metrics: Sequence[str] = ("pm25",),
                        episodes: Sequence[Anomaly] = ()) -> Iterator[tuple[datetime, str, str, float]]:
    """Readings of *metrics* every *step_s* from *start* to before *end* (epoch seconds)."""
    stations = [d for d in devices if d.kind == "air_quality"]
    model = AirQualityModel(stations, seed)
    rng = random.Random(f"{seed}:history")
    t = start
    while t < end:
        active = [a for a in episodes if a.start - 12 * HOUR <= t < a.end + 12 * HOUR]
        moment = datetime.fromtimestamp(t, UTC)
        for d in stations:
            values = model.reading(d.id, t, rng, active)
            for metric in metrics:
                yield moment, d.id, metric, values[metric]
        t += step_s
