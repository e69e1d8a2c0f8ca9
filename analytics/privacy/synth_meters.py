"""Synthetic smart-meter households at the size that makes privacy hard, for tests and the bench.

Households are spread over districts of Seoul split into neighbourhood zones
(``mapo-gu/hapjeong``), some of them small (a few dozen households); each household
type is the simulator's (devices/sim/smart_meter.py ``profile_of``) and its load the
simulator's model (``occupied`` and ``activity``), vectorised so that a week of
15-minute ``power_kw`` readings for 10,000 households is made in seconds. Everything
is written by COPY: the devices (kind smart_meter, a token hash that never verifies:
they cannot log in), their household types (hub.households) and the readings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from devices.sim.clock import bump, day_of_year, local_hour
from devices.sim.smart_meter import activity, occupied, profile_of

# (zone, weight): some zones and one whole district are small on purpose.
ZONES = (
    ("jongno-gu/sajik", 9), ("jongno-gu/hyehwa", 6), ("jongno-gu/pyeongchang", 1.5),
    ("jung-gu/myeong", 3), ("jung-gu/sogong", 1),
    ("mapo-gu/hapjeong", 10), ("mapo-gu/seogyo", 8), ("mapo-gu/mangwon", 5),
    ("yongsan-gu/itaewon", 7), ("yongsan-gu/hannam", 2),
    ("gangnam-gu/yeoksam", 12), ("gangnam-gu/daechi", 10), ("gangnam-gu/apgujeong", 4),
    ("songpa-gu/jamsil", 14), ("songpa-gu/garak", 6.5),
)
_SCALE = {"family": 1.4, "single_worker": 0.8, "single_elderly": 0.5, "vacant": 0.0}
STEP = timedelta(minutes=15)
NO_LOGIN = "!synthetic household meter: no login"


@dataclass(frozen=True, slots=True)
class SynthMeters:
    households: pd.DataFrame  # device_id, zone, household_type, base_kw
    times: pd.DatetimeIndex  # the reading times (UTC)
    power_kw: np.ndarray  # households × times


def _profile_curve(profile: str, epochs: np.ndarray) -> np.ndarray:
    """The simulator's activity (with summer cooling) while someone is at home, else 0."""
    out = np.zeros(len(epochs))
    for i, t in enumerate(epochs.tolist()):
        if occupied(profile, t):
            season = max(0.0, math.cos(2 * math.pi * (day_of_year(t) - 210) / 365.0))
            out[i] = activity(profile, t) + 0.9 * season**3 * bump(local_hour(t), 16.0, 4.0)
    return out


def make_meters(count: int, start: datetime, days: int = 7, seed: int = 11,
                prefix: str = "synm") -> SynthMeters:
    rng = np.random.default_rng(seed)
    weights = np.array([w for _, w in ZONES], dtype=float)
    zones = rng.choice(len(ZONES), size=count, p=weights / weights.sum())
    ids = [f"{prefix}-{i:05d}" for i in range(count)]
    households = pd.DataFrame({
        "device_id": ids, "zone": [ZONES[z][0] for z in zones],
        "household_type": [profile_of(i, seed) for i in ids],
        "base_kw": rng.uniform(0.05, 0.14, size=count)})
    times = pd.date_range(start, periods=days * 96, freq=STEP, tz="UTC")
    epochs = times.asi8 // 10**9
    curves = {p: _profile_curve(p, epochs.astype(float)) for p in _SCALE}
    shape = (count, len(times))
    power = households["base_kw"].to_numpy()[:, None] * (1 + rng.normal(0, 0.05, shape))
    activity_kw = np.stack([_SCALE[p] * curves[p] for p in households["household_type"]])
    power += activity_kw * np.clip(1 + rng.normal(0, 0.15, shape), 0, None)
    return SynthMeters(households, times, np.round(np.clip(power, 0, None), 3))


def write_meters(conn: psycopg.Connection[tuple[Any, ...]], meters: SynthMeters) -> int:
    """Register the households' meters and COPY their readings; returns the readings written."""
    h = meters.households
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy("COPY hub.devices (id, kind, zone, token_hash) FROM STDIN") as copy:
            for device, zone in zip(h["device_id"], h["zone"], strict=True):
                copy.write_row((device, "smart_meter", zone, NO_LOGIN))
        with cur.copy("COPY hub.households (device_id, household_type) FROM STDIN") as copy:
            for device, kind in zip(h["device_id"], h["household_type"], strict=True):
                copy.write_row((device, kind))
        stamps = [t.isoformat() for t in meters.times]
        with cur.copy("COPY hub.telemetry (ts, device_id, metric, value) FROM STDIN") as copy:
            for device, row in zip(h["device_id"], meters.power_kw.tolist(), strict=True):
                tail = f"\t{device}\tpower_kw\t"
                copy.write("".join(f"{s}{tail}{v}\n" for s, v in zip(stamps, row, strict=True)))
    # Fresh statistics, or the planner takes the bulk-loaded tables for empty ones.
    conn.execute("ANALYZE hub.devices, hub.households, hub.telemetry")
    return int(meters.power_kw.size)
