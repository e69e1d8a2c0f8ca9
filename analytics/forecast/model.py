"""The forecast model: one gradient-boosting regressor per horizon, scored against persistence.

Each regressor (scikit-learn's ``HistGradientBoostingRegressor``) learns the *change* from the
last hourly mean to the target hour, so its forecast is ``lag_1 + predicted change``: trees
cannot extrapolate a level, but a change learnt on one episode carries over to a higher one,
and with nothing to learn the model falls back to persistence.

Scores: the history's last ``holdout`` share of hours is held out; models fitted on the hours
before it forecast every (hour, station) of the tail, and the mean absolute error per horizon
is reported next to the persistence baseline's (the last hourly mean, carried forward) on the
same rows. The stored model is then refitted on the whole history. Pure (no I/O).

Fits and forecasts run on one OpenMP thread: on a machine whose cores the other services
keep busy, scikit-learn's default of a thread per core made a fit up to 40 times slower.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analytics.forecast import NotEnoughHistory
from analytics.forecast.features import FEATURES, HORIZONS, design, feature_frame, target

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingRegressor

MIN_TRAIN_ROWS = 48
# Boosting iterations per horizon (fewer when early stopping finds no gain, on large histories).
ITERATIONS = 100
METRIC = "pm25"


@dataclass(frozen=True, slots=True)
class HorizonScore:
    horizon: int
    rows: int  # (hour, station) pairs of the held-out tail scored
    mae: float
    persistence_mae: float

    @property
    def skill(self) -> float:
        """1 - MAE / persistence MAE: above 0, the model beats persistence."""
        return 1.0 - self.mae / self.persistence_mae if self.persistence_mae > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ForecastModel:
    horizons: tuple[int, ...]
    regressors: tuple[Any, ...]  # fitted regressors, one per horizon
    tz: str
    trained_from: datetime
    trained_to: datetime
    scores: tuple[HorizonScore, ...]
    features: tuple[str, ...] = FEATURES
    metric: str = METRIC


@dataclass(frozen=True, slots=True)
class Forecast:
    station: str
    made_from: datetime  # the last complete hour used (its bucket start)
    horizon: int
    target_at: datetime  # start of the hour forecast (a bucket of hub.telemetry_1h)
    value: float

    @property
    def made_at(self) -> datetime:
        """When the forecast could first be made: the end of its last complete hour."""
        return self.made_from + timedelta(hours=1)


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error over the pairs where both are known."""
    both = ~(np.isnan(predicted) | np.isnan(actual))
    if not both.any():
        return float("nan")
    return float(np.mean(np.abs(predicted[both] - actual[both])))


def persistence(frame: pd.DataFrame) -> np.ndarray:
    """The baseline: the last hourly mean, for every horizon."""
    return np.asarray(frame["lag_1"].to_numpy(dtype=float), dtype=float)


def _regressor(seed: int, iterations: int) -> HistGradientBoostingRegressor:
    # Imported here: scikit-learn takes seconds to load, and every `cityhub` command loads
    # this module to list its sub-commands.
    from sklearn.ensemble import HistGradientBoostingRegressor

    # Absolute-error loss: the score is an MAE, and a squared loss chased the few hours of a
    # plume's ramp (on simulated history it doubled the 6 h error); small, regularised trees.
    return HistGradientBoostingRegressor(loss="absolute_error", max_iter=iterations, learning_rate=0.05,
                                         max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0,
                                         random_state=seed)


def _rows(frame: pd.DataFrame, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    known = ~np.isnan(y) & ~np.isnan(frame["lag_1"].to_numpy(dtype=float))
    return np.asarray(mask & known, dtype=bool)


def _fit_one(frame: pd.DataFrame, y: np.ndarray, rows: np.ndarray, horizon: int, tz: str,
             seed: int, iterations: int) -> HistGradientBoostingRegressor:
    from threadpoolctl import threadpool_limits

    if rows.sum() < MIN_TRAIN_ROWS:
        raise NotEnoughHistory(
            f"Only {int(rows.sum())} hourly means can train the {horizon} h forecast; "
            f"at least {MIN_TRAIN_ROWS} are needed (about {HORIZONS[-1] + 24 + 2} hours of history).")
    x = design(frame.loc[rows], horizon, tz)
    # A feature never known in this history (no 24 h lag yet) cannot be binned; constant, it
    # is never split on, so at forecast time its value does not matter.
    x = x.fillna({c: 0.0 for c in x.columns if x[c].isna().all()})
    change = y[rows] - frame.loc[rows, "lag_1"].to_numpy(dtype=float)
    with threadpool_limits(limits=1, user_api="openmp"):
        return _regressor(seed, iterations).fit(x, change)


def predict_frame(regressor: Any, frame: pd.DataFrame, horizon: int, tz: str) -> np.ndarray:
    """Forecasts for every row of *frame* (NaN where the last hourly mean is missing)."""
    if frame.empty:
        return np.empty(0)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        change = np.asarray(regressor.predict(design(frame, horizon, tz)), dtype=float)
    # A concentration is never negative, whatever the change learnt.
    return np.asarray(np.maximum(frame["lag_1"].to_numpy(dtype=float) + change, 0.0), dtype=float)


def _score_rows(regressor: Any, frame: pd.DataFrame, y: np.ndarray, rows: np.ndarray, horizon: int,
                tz: str) -> HorizonScore:
    held = frame.loc[rows]
    predicted = predict_frame(regressor, held, horizon, tz)
    return HorizonScore(horizon, int(rows.sum()), mae(predicted, y[rows]), mae(persistence(held), y[rows]))


def score(wide: pd.DataFrame, zones: Mapping[str, str | None], tz: str, *,
          horizons: Sequence[int] = HORIZONS, holdout: float = 0.2, seed: int = 0,
          iterations: int = ITERATIONS) -> list[HorizonScore]:
    """MAE per horizon on the last *holdout* share of hours, model and persistence."""
    if not 0 < holdout < 1:
        raise ValueError("holdout must be a share between 0 and 1")
    frame = feature_frame(wide, zones)
    hours = wide.index
    cutoff = hours[int(len(hours) * (1 - holdout))] if len(hours) else None
    if cutoff is None:
        raise NotEnoughHistory("There are no hourly means to score a forecast on.")
    made = pd.DatetimeIndex(frame["made_from"])
    scores = []
    for h in horizons:
        y = target(wide, h)
        # Training rows whose target hour is before the tail: nothing of the tail leaks in.
        train = _rows(frame, y, np.asarray(made + pd.Timedelta(hours=h) < cutoff))
        test = _rows(frame, y, np.asarray(made >= cutoff))
        if not test.any():
            raise NotEnoughHistory(f"The held-out tail has no complete {h} h forecast to score.")
        scores.append(_score_rows(_fit_one(frame, y, train, h, tz, seed, iterations), frame, y, test, h, tz))
    return scores


def evaluate(model: ForecastModel, wide: pd.DataFrame, zones: Mapping[str, str | None], *,
             since: datetime | None = None) -> list[HorizonScore]:
    """A fitted model's MAE per horizon next to persistence's, over every (hour, station) of
    *wide* made from *since* on (earlier hours only feed the lags): the same forecasts as
    :func:`forecast`, for every hour of a range instead of the last one."""
    frame = feature_frame(wide, zones)
    scores = []
    for h, regressor in zip(model.horizons, model.regressors, strict=True):
        y = target(wide, h)
        mask = np.ones(len(frame), dtype=bool) if since is None else np.asarray(frame["made_from"] >= since)
        rows = _rows(frame, y, mask)
        if not rows.any():
            raise NotEnoughHistory(f"The range has no hourly mean {h} h after another to score.")
        scores.append(_score_rows(regressor, frame, y, rows, h, model.tz))
    return scores


def fit(wide: pd.DataFrame, zones: Mapping[str, str | None], tz: str, *,
        horizons: Sequence[int] = HORIZONS, holdout: float = 0.2, seed: int = 0,
        iterations: int = ITERATIONS) -> ForecastModel:
    """Score on the held-out tail, then fit every horizon on the whole history."""
    scores = score(wide, zones, tz, horizons=horizons, holdout=holdout, seed=seed, iterations=iterations)
    frame = feature_frame(wide, zones)
    everything = np.ones(len(frame), dtype=bool)
    regressors = []
    for h in horizons:
        y = target(wide, h)
        regressors.append(_fit_one(frame, y, _rows(frame, y, everything), h, tz, seed, iterations))
    hours = wide.index
    return ForecastModel(tuple(horizons), tuple(regressors), tz, hours[0].to_pydatetime(),
                         (hours[-1] + pd.Timedelta(hours=1)).to_pydatetime(), tuple(scores))


def forecast(model: ForecastModel, wide: pd.DataFrame, zones: Mapping[str, str | None]) -> list[Forecast]:
    """Forecasts from the last hour of *wide* for every station with a mean that hour."""
    if wide.empty:
        return []
    frame = feature_frame(wide, zones)
    last = frame[frame["made_from"] == frame["made_from"].max()]
    last = last[~np.isnan(last["lag_1"].to_numpy(dtype=float))]
    if last.empty:
        return []
    made_from = pd.Timestamp(last["made_from"].iloc[0]).to_pydatetime()
    out: list[Forecast] = []
    for h, regressor in zip(model.horizons, model.regressors, strict=True):
        values = predict_frame(regressor, last, h, model.tz)
        out.extend(Forecast(str(s), made_from, h, made_from + timedelta(hours=h), round(float(v), 2))
                   for s, v in zip(last["station"], values, strict=True))
    return sorted(out, key=lambda f: (f.station, f.horizon))
