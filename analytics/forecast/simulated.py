"""A history from the device simulator, for scoring the forecast and for a demo's first model.

The simulator's station model (devices/sim/air_quality.py) with seeded Asian-dust plumes
(devices/sim/history.py), sampled every 15 minutes and averaged per hour exactly as the
hub's hourly rollup does. Nothing here reads or writes the hub's telemetry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd

from analytics.forecast.features import hourly_frame
from devices.sim.fleet import SimDevice
from devices.sim.history import air_quality_history, dust_plumes


def simulated_hours(stations: Sequence[SimDevice], end: datetime, days: float, *, seed: int) -> pd.DataFrame:
    """The wide frame of hourly PM2.5 means for *stations* over the *days* before *end*."""
    start = end - timedelta(days=days)
    t0, t1 = start.timestamp(), end.timestamp()
    rows = pd.DataFrame(air_quality_history(stations, t0, t1, seed=seed, episodes=dust_plumes(t0, t1, seed)),
                        columns=["ts", "station", "metric", "value"])
    rows["bucket"] = pd.to_datetime(rows["ts"], utc=True).dt.floor("h")
    means = rows.groupby(["bucket", "station"], as_index=False)["value"].mean()
    return hourly_frame(means[["bucket", "station", "value"]].itertuples(index=False, name=None),
                        start=start, end=end - timedelta(hours=1))
