"""Training the ``sensor-fault`` model with pandas and scikit-learn.

History: one reading per station, metric and minute (the first of the minute: a single
reading has the noise the live detector sees, a minute's mean would not). For each station
and metric, the neighbours' median of the same minute is the regressor of a
:class:`sklearn.linear_model.HuberRegressor` (see :func:`fit_calibration`) - Huber, because the
history may hold the very spikes and stuck values the model must later find, and a squared
loss would bend the line towards them. The log residuals' robust spread (1.4826 × MAD) is the
station's ``scale``. Scores: how many stations and readings were used, the median scale, and the
share of training readings the fitted model would call a spike (on clean history it is
near zero; a high share says the history itself is full of faults).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from analytics.models.errors import NotEnoughHistory
from analytics.models.neighbours import Site, neighbours
from analytics.models.sensor_fault import FLOORS, Calibration, FaultParams, SensorFaultModel

Conn = psycopg.Connection[tuple[Any, ...]]
NAME = "sensor-fault"
MIN_POINTS = 30
# A fitted factor outside this range is not a calibration but a broken history.
SLOPE_RANGE = (0.5, 2.0)


def sites(conn: Conn) -> dict[str, Site]:
    cur = conn.execute("SELECT id, zone, lat, lon FROM hub.devices WHERE kind = 'air_quality' "
                       "AND status = 'active'")
    return {str(r[0]): Site(str(r[0]), r[1], r[2], r[3]) for r in cur.fetchall()}


def history(conn: Conn, start: datetime, end: datetime, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Columns minute, device_id, metric, value: one reading per station, metric and minute."""
    minute = sql.SQL("date_bin('1 minute', t.ts, TIMESTAMPTZ '2000-01-01 00:00+00')")
    cur = conn.execute(sql.SQL(
        "SELECT DISTINCT ON (t.device_id, t.metric, {m}) {m}, t.device_id, t.metric, t.value "
        "FROM hub.telemetry t JOIN hub.devices d ON d.id = t.device_id "
        "WHERE d.kind = 'air_quality' AND t.ts >= %s AND t.ts < %s AND t.metric = ANY(%s) "
        "ORDER BY t.device_id, t.metric, {m}, t.ts").format(m=minute), (start, end, list(metrics)))
    return pd.DataFrame(cur.fetchall(), columns=["minute", "device_id", "metric", "value"])


def neighbour_frame(frame: pd.DataFrame, metric: str, near: Mapping[str, tuple[str, ...]],
                    min_neighbours: int) -> pd.DataFrame:
    """Columns device_id, value, neighbour_median for one metric (rows with enough neighbours)."""
    wide = frame[frame["metric"] == metric].pivot_table(index="minute", columns="device_id",
                                                         values="value", aggfunc="first")
    parts = []
    for device_id in wide.columns:
        others = [o for o in near.get(str(device_id), ()) if o in wide.columns]
        if len(others) < min_neighbours:
            continue
        block = wide[others]
        ok = block.notna().sum(axis=1) >= min_neighbours
        part = pd.DataFrame({"value": wide[device_id], "neighbour_median": block.median(axis=1)})[ok]
        part = part.dropna()
        part["device_id"] = str(device_id)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["value", "neighbour_median", "device_id"])
    return pd.concat(parts)


def fit_calibration(values: np.ndarray[Any, Any], medians: np.ndarray[Any, Any], metric: str,
                    params: FaultParams) -> Calibration:
    """``value ≈ slope × neighbours' median`` by Huber regression through the origin, in
    concentration units: a station reads its neighbours' level scaled by its own factor. No
    intercept: with one, the noise in the neighbours' median flattens the fitted line (regression
    dilution) and a city-wide episode far above the training levels would make every station
    look off. The scale is the robust spread of the log residuals, what the detector divides by."""
    slope = 1.0
    if float(np.max(medians)) > 0:
        from sklearn.linear_model import HuberRegressor  # seconds to load: only when training

        huber = HuberRegressor(epsilon=1.35, max_iter=500, fit_intercept=False)
        fitted = float(huber.fit(medians.reshape(-1, 1), values).coef_[0])
        if SLOPE_RANGE[0] <= fitted <= SLOPE_RANGE[1]:
            slope = fitted
    cal = Calibration(0.0, slope, 1.0)
    residual = log_residuals(values, medians, metric, cal)
    mad = float(np.median(np.abs(residual - np.median(residual))))
    return Calibration(0.0, slope, max(params.min_scale, 1.4826 * mad))


def log_residuals(values: np.ndarray[Any, Any], medians: np.ndarray[Any, Any], metric: str,
                  cal: Calibration) -> np.ndarray[Any, Any]:
    """The vector form of :func:`analytics.models.sensor_fault.z_score` times the scale."""
    floor = FLOORS.get(metric, 0.0)
    predicted = np.maximum(cal.intercept + cal.slope * medians, 0.0)
    return np.asarray(np.log(np.maximum(values, 0.0) + floor + 1e-9) - np.log(predicted + floor + 1e-9))


def train(frame: pd.DataFrame, all_sites: Mapping[str, Site], params: FaultParams | None = None,
          ) -> tuple[SensorFaultModel, dict[str, Any]]:
    """Fit the model on *frame* (see :func:`history`); returns the model and its scores."""
    params = params or FaultParams()
    near = neighbours(all_sites.values())
    calibrations: dict[tuple[str, str], Calibration] = {}
    points = spikes = 0
    for metric in params.metrics:
        pairs = neighbour_frame(frame, metric, near, params.min_neighbours)
        for device_id, group in pairs.groupby("device_id"):
            if len(group) < MIN_POINTS:
                continue
            values = group["value"].to_numpy(dtype=float)
            medians = group["neighbour_median"].to_numpy(dtype=float)
            cal = fit_calibration(values, medians, metric, params)
            calibrations[(str(device_id), metric)] = cal
            z = log_residuals(values, medians, metric, cal) / cal.scale
            points += len(group)
            spikes += int((np.abs(z) >= params.spike_z).sum())
    if not calibrations:
        raise NotEnoughHistory(
            f"No station has {MIN_POINTS} minutes of readings with {params.min_neighbours} neighbours "
            "reporting in the training range; widen --from/--to or wait for more history.")
    scales = [c.scale for c in calibrations.values()]
    scores = {"stations": len({d for d, _ in calibrations}), "series": len(calibrations),
              "readings": points, "median_scale": round(float(np.median(scales)), 4),
              "spike_share": round(spikes / points, 5) if points else 0.0}
    return SensorFaultModel(calibrations, replace(params)), scores
