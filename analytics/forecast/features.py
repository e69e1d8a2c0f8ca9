"""Features for the PM2.5 forecast from hourly means. Pure (pandas and numpy).

The input is a wide frame of hourly means: a complete UTC hourly index (the rollup's buckets,
``hub.telemetry_1h``), one column per station, NaN where a station has no reading that hour.
A forecast is made from the last complete hour ``t`` (its bucket start) for the hours
``t + h``, h = 1 … 6. For every (t, station) the features are:

- ``lag_k``: the station's mean k - 1 hours before ``t`` (``lag_1`` is hour ``t`` itself), for
  k in 1, 2, 3, 6, 12, 24;
- ``trend_3``: ``lag_1`` minus the mean three hours earlier;
- ``zone_mean``: the mean of the other stations of its zone at ``t`` (the city's when it has
  no zone neighbour reporting);
- ``city_mean`` and ``city_trend_3``: every station's mean at ``t``, and its change over 3 h
  (a plume crossing the city shows up there before it reaches a station);
- added per horizon by :func:`design`: ``hour`` and ``weekday`` of the target hour in the
  operators' time zone (traffic peaks and weekends are local).

There is no station id among the features, so a model serves stations added after it was
trained. Missing values stay NaN: the gradient-boosting model handles them natively.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np
import pandas as pd

LAGS = (1, 2, 3, 6, 12, 24)
HORIZONS = (1, 2, 3, 4, 5, 6)
# The hours of history a forecast needs: the longest lag.
HISTORY_H = max(LAGS)
BASE = (*(f"lag_{k}" for k in LAGS), "trend_3", "zone_mean", "city_mean", "city_trend_3")
CALENDAR = ("hour", "weekday")
FEATURES = (*BASE, *CALENDAR)


def hourly_frame(rows: Iterable[tuple[datetime, str, float]], *, start: datetime | None = None,
                 end: datetime | None = None) -> pd.DataFrame:
    """Long rows (bucket start, station, mean) → the wide frame, every hour from *start* (or the
    first row) to *end* (or the last row) inclusive, UTC."""
    long = pd.DataFrame(list(rows), columns=["bucket", "station", "value"])
    long["bucket"] = pd.to_datetime(long["bucket"], utc=True)
    wide = long.pivot_table(index="bucket", columns="station", values="value", aggfunc="mean")
    first = pd.Timestamp(start) if start is not None else (wide.index.min() if len(wide) else None)
    last = pd.Timestamp(end) if end is not None else (wide.index.max() if len(wide) else None)
    if first is None or last is None:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="bucket"), dtype=float)
    hours = pd.date_range(first.floor("h"), last.floor("h"), freq="h", name="bucket")
    wide = wide.reindex(hours)
    wide.columns.name = "station"
    return wide.astype(float)


def _zone_means(wide: pd.DataFrame, zones: Mapping[str, str | None]) -> np.ndarray:
    """For each station, the mean of the *other* stations of its zone (NaN when none)."""
    values = wide.to_numpy(dtype=float)
    out = np.full_like(values, np.nan)
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    by_zone: dict[str, list[int]] = {}
    for i, station in enumerate(wide.columns):
        zone = zones.get(str(station))
        if zone:
            by_zone.setdefault(zone, []).append(i)
    for members in by_zone.values():
        total = filled[:, members].sum(axis=1, keepdims=True)
        count = present[:, members].sum(axis=1, keepdims=True)
        others = count - present[:, members]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, members] = np.where(others > 0, (total - filled[:, members]) / others, np.nan)
    return out


def feature_frame(wide: pd.DataFrame, zones: Mapping[str, str | None]) -> pd.DataFrame:
    """One row per (hour ``t``, station), time-major: ``made_from`` (the bucket ``t``),
    ``station`` and the :data:`BASE` features."""
    values = wide.to_numpy(dtype=float)
    n_hours, n_stations = values.shape
    columns: dict[str, np.ndarray] = {}
    for k in LAGS:
        columns[f"lag_{k}"] = wide.shift(k - 1).to_numpy(dtype=float)
    columns["trend_3"] = values - wide.shift(3).to_numpy(dtype=float)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an hour without any mean: NaN, as it should
        city = pd.Series(np.nanmean(values, axis=1) if n_stations else np.full(n_hours, np.nan),
                         index=wide.index)
    city_col = np.repeat(city.to_numpy()[:, None], n_stations, axis=1)
    zone = _zone_means(wide, zones)
    columns["zone_mean"] = np.where(np.isnan(zone), city_col, zone)
    columns["city_mean"] = city_col
    columns["city_trend_3"] = city_col - np.repeat(city.shift(3).to_numpy()[:, None], n_stations, axis=1)
    frame = pd.DataFrame({name: col.ravel() for name, col in columns.items()})
    frame.insert(0, "station", np.tile(np.asarray(wide.columns, dtype=object), n_hours))
    frame.insert(0, "made_from", np.repeat(wide.index.to_numpy(), n_stations))
    frame["made_from"] = pd.to_datetime(frame["made_from"], utc=True)
    return frame


def target(wide: pd.DataFrame, horizon: int) -> np.ndarray:
    """The station's mean *horizon* hours after ``t``, aligned with :func:`feature_frame`."""
    return wide.shift(-horizon).to_numpy(dtype=float).ravel()


def design(frame: pd.DataFrame, horizon: int, tz: str) -> pd.DataFrame:
    """The model's input for *horizon*: the base features and the target hour's calendar."""
    when = pd.DatetimeIndex(frame["made_from"]) + pd.Timedelta(hours=horizon)
    local = when.tz_convert(tz)
    x = frame.loc[:, list(BASE)].copy()
    x["hour"] = np.asarray(local.hour, dtype=float)
    x["weekday"] = np.asarray(local.day_of_week, dtype=float)
    return x
