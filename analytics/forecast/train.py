"""Train the forecast from the hub's history and store it (``pm25-forecast`` in the model store)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from analytics.forecast import ForecastError, NotEnoughHistory
from analytics.forecast.db import KIND, hourly_means, stations
from analytics.forecast.features import FEATURES, HISTORY_H, HORIZONS, LAGS, hourly_frame
from analytics.forecast.live import MODEL_NAME
from analytics.forecast.model import ITERATIONS, ForecastModel, HorizonScore, evaluate, fit
from analytics.models.store import ModelInfo, load_model, save_model

log = logging.getLogger(__name__)
Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Trained:
    info: ModelInfo
    model: ForecastModel


def scores_document(scores: tuple[HorizonScore, ...]) -> dict[str, Any]:
    """The scores as the store keeps them (JSON): held-out MAE per horizon, the model's and
    persistence's, as lists in the order of ``horizons`` (short enough for `analytics models`)."""
    return {"horizons": [s.horizon for s in scores], "mae": [round(s.mae, 3) for s in scores],
            "persistence_mae": [round(s.persistence_mae, 3) for s in scores],
            "rows": [s.rows for s in scores]}


def _params(holdout: float, tz: str, stations: int) -> dict[str, Any]:
    return {"horizons": list(HORIZONS), "lags": list(LAGS), "features": list(FEATURES),
            "holdout": holdout, "time_zone": tz, "stations": stations,
            "regressor": "HistGradientBoostingRegressor per horizon, on the change from the last hour"}


def train(conn: Conn, start: datetime, end: datetime, *, tz: str, holdout: float = 0.2,
          created_by: str = "analytics", iterations: int = ITERATIONS) -> Trained:
    """Fit on the hourly PM2.5 means in ``[start, end)``, score on its tail, store a new version."""
    model, params = fit_history(conn, start, end, tz=tz, holdout=holdout, iterations=iterations)
    info = save_model(conn, MODEL_NAME, model, trained_from=model.trained_from,
                      trained_to=model.trained_to, scores=scores_document(model.scores),
                      params=params, created_by=created_by)
    return Trained(info, model)


def fit_history(conn: Conn, start: datetime, end: datetime, *, tz: str, holdout: float = 0.2,
                iterations: int = ITERATIONS) -> tuple[ForecastModel, dict[str, Any]]:
    """The model fitted on the hub's hourly means in ``[start, end)``, and its parameters."""
    rows = hourly_means(conn, start, end)
    if not rows:
        raise NotEnoughHistory(
            f"There are no hourly PM2.5 means between {start.isoformat()} and {end.isoformat()}.")
    wide = hourly_frame(rows)
    log.info("training %s on %d hour(s) of %d station(s)", MODEL_NAME, len(wide), wide.shape[1])
    model = fit(wide, stations(conn), tz, holdout=holdout, iterations=iterations)
    return model, _params(holdout, tz, int(wide.shape[1])) | {"data": "hub"}


def train_simulated(conn: Conn, days: float, *, tz: str, seed: int = 1, holdout: float = 0.2,
                    created_by: str = "analytics") -> Trained:
    """Fit on *days* of simulated history of the registered stations (their places and zones)."""
    from analytics.forecast.simulated import simulated_hours  # the simulator: loaded here only
    from devices.sim.fleet import SimDevice

    rows = conn.execute("SELECT id, zone, lat, lon FROM hub.devices WHERE kind = %s AND revoked_at IS NULL "
                        "AND lat IS NOT NULL AND lon IS NOT NULL ORDER BY id", (KIND,)).fetchall()
    if len(rows) < 2:
        raise NotEnoughHistory("Simulated training needs at least two registered air-quality stations "
                               "with a position.")
    fleet = [SimDevice(str(r[0]), KIND, str(r[1] or ""), float(r[2]), float(r[3])) for r in rows]
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    wide = simulated_hours(fleet, end, days, seed=seed)
    model = fit(wide, {d.id: d.zone or None for d in fleet}, tz, holdout=holdout)
    info = save_model(conn, MODEL_NAME, model, trained_from=model.trained_from,
                      trained_to=model.trained_to, scores=scores_document(model.scores),
                      params=_params(holdout, tz, len(fleet)) | {"data": "simulated", "days": days,
                                                                  "seed": seed},
                      created_by=created_by)
    return Trained(info, model)


def evaluate_stored(conn: Conn, start: datetime, end: datetime,
                    version: int | None = None) -> tuple[ModelInfo, list[HorizonScore]]:
    """A stored model's MAE per horizon against persistence on the hub's hours in ``[start, end)``
    (typically after its training range: an out-of-sample check before trusting a new version)."""
    loaded = load_model(conn, MODEL_NAME, version)
    if not isinstance(loaded.model, ForecastModel):
        raise ForecastError(f"{MODEL_NAME} version {loaded.info.version} is not a forecast model.")
    lead = timedelta(hours=HISTORY_H)
    rows = hourly_means(conn, start - lead, end, loaded.model.metric)
    if not rows:
        raise NotEnoughHistory(
            f"There are no hourly PM2.5 means between {start.isoformat()} and {end.isoformat()}.")
    wide = hourly_frame(rows, end=end - timedelta(hours=1))
    return loaded.info, evaluate(loaded.model, wide, stations(conn), since=start)
