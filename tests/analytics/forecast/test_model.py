"""The forecast model: held-out scores computed right, forecasts shaped right, pickling."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.forecast import NotEnoughHistory
from analytics.forecast.features import feature_frame, hourly_frame, target
from analytics.forecast.model import evaluate, fit, forecast, mae, persistence, score

T0 = datetime(2026, 3, 2, 0, tzinfo=UTC)
TZ = "Asia/Seoul"
FAST = 40  # boosting iterations: enough for a clean daily cycle


def daily_cycle(days: int, stations: int = 3) -> pd.DataFrame:
    """A strong daily cycle with little noise: persistence is badly wrong six hours on."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(days * 24):
        t = T0 + timedelta(hours=i)
        level = 40.0 + 25.0 * math.sin(2 * math.pi * i / 24)
        rows += [(t, f"s{n}", level * (1 + 0.05 * n) + rng.normal(0, 1.0)) for n in range(stations)]
    return hourly_frame(rows)


def test_scores_are_model_and_persistence_mae_on_the_held_out_tail() -> None:
    wide = daily_cycle(10)
    scores = score(wide, {}, TZ, horizons=(1, 6), holdout=0.25, iterations=FAST)
    cutoff = wide.index[int(len(wide.index) * 0.75)]
    frame = feature_frame(wide, {})
    for s in scores:
        y = target(wide, s.horizon)
        tail = np.asarray(frame["made_from"] >= cutoff) & ~np.isnan(y)
        assert s.rows == int(tail.sum())
        assert s.persistence_mae == pytest.approx(mae(persistence(frame[tail]), y[tail]))
    six = next(s for s in scores if s.horizon == 6)
    # Six hours on a 24-hour cycle, persistence is off by ~25 µg/m³; the hour of day knows better.
    assert six.mae < six.persistence_mae / 3
    assert six.skill > 0.6


def test_a_fitted_model_forecasts_six_hours_for_each_station_and_pickles() -> None:
    wide = daily_cycle(6)
    model = fit(wide, {}, TZ, horizons=(1, 2, 3, 4, 5, 6), iterations=FAST)
    assert [s.horizon for s in model.scores] == [1, 2, 3, 4, 5, 6]
    assert model.trained_from == T0
    assert model.trained_to == T0 + timedelta(days=6)
    restored = pickle.loads(pickle.dumps(model))
    last = wide.index[-1].to_pydatetime()
    made = forecast(restored, wide, {})
    assert {(f.station, f.horizon) for f in made} == {(f"s{n}", h) for n in range(3) for h in range(1, 7)}
    assert all(f.made_from == last and f.target_at == last + timedelta(hours=f.horizon)
               and f.made_at == last + timedelta(hours=1) for f in made)
    # The last hour is 23:00 UTC; six hours on, the cycle has fallen to its trough and back.
    expected = {h: 40.0 + 25.0 * math.sin(2 * math.pi * (len(wide) - 1 + h) / 24) for h in range(1, 7)}
    s0 = {f.horizon: f.value for f in made if f.station == "s0"}
    assert all(abs(s0[h] - expected[h]) < 6.0 for h in expected), (s0, expected)


def test_a_stored_model_is_scored_on_a_later_range_against_persistence() -> None:
    wide = daily_cycle(8)
    model = fit(wide.iloc[:5 * 24], {}, TZ, horizons=(1, 6), iterations=FAST)
    since = wide.index[6 * 24]
    scores = evaluate(model, wide, {}, since=since.to_pydatetime())
    frame = feature_frame(wide, {})
    for s in scores:
        y = target(wide, s.horizon)
        rows = np.asarray(frame["made_from"] >= since) & ~np.isnan(y)
        assert s.rows == int(rows.sum())  # lags reach back before `since`; targets do not go past the end
        assert s.persistence_mae == pytest.approx(mae(persistence(frame[rows]), y[rows]))
    assert scores[1].mae < scores[1].persistence_mae


def test_a_station_without_its_last_hour_gets_no_forecast() -> None:
    wide = daily_cycle(6)
    model = fit(wide, {}, TZ, horizons=(1,), iterations=FAST)
    wide.iloc[-1, 0] = np.nan
    assert {f.station for f in forecast(model, wide, {})} == {"s1", "s2"}


def test_too_little_history_is_refused_with_the_reason() -> None:
    with pytest.raises(NotEnoughHistory, match="at least 48 are needed"):
        fit(daily_cycle(1, stations=1), {}, TZ, horizons=(1,), iterations=FAST)
