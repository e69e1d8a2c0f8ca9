"""The forecast's features and scores: lags, zone and city means, persistence, MAE."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.forecast.features import FEATURES, design, feature_frame, hourly_frame, target
from analytics.forecast.model import HorizonScore, mae, persistence

T0 = datetime(2026, 3, 2, 0, tzinfo=UTC)  # a Monday, 09:00 in Seoul


def hours(n: int) -> list[datetime]:
    return [T0 + timedelta(hours=i) for i in range(n)]


def wide_of(series: dict[str, list[float]]) -> pd.DataFrame:
    rows = [(t, station, v) for station, values in series.items()
            for t, v in zip(hours(len(values)), values, strict=True) if not math.isnan(v)]
    return hourly_frame(rows, start=T0, end=T0 + timedelta(hours=len(next(iter(series.values()))) - 1))


def test_hourly_frame_fills_missing_hours_with_nan() -> None:
    wide = hourly_frame([(T0, "a", 10.0), (T0 + timedelta(hours=3), "a", 13.0), (T0, "b", 5.0)])
    assert list(wide.index) == [pd.Timestamp(t) for t in hours(4)]
    assert wide["a"].tolist()[0] == 10.0
    assert math.isnan(wide["a"].tolist()[1])
    assert wide["a"].tolist()[3] == 13.0
    assert math.isnan(wide["b"].tolist()[3])


def test_lags_and_trend_are_the_station_s_own_past() -> None:
    values = [float(i) for i in range(30)]  # the mean at hour i is i
    frame = feature_frame(wide_of({"a": values}), {})
    row = frame[frame["made_from"] == pd.Timestamp(T0 + timedelta(hours=29))].iloc[0]
    assert [row[f"lag_{k}"] for k in (1, 2, 3, 6, 12, 24)] == [29.0, 28.0, 27.0, 24.0, 18.0, 6.0]
    assert row["trend_3"] == 3.0
    early = frame[frame["made_from"] == pd.Timestamp(T0 + timedelta(hours=2))].iloc[0]
    assert early["lag_3"] == 0.0
    assert math.isnan(early["lag_6"])


def test_zone_mean_excludes_the_station_and_city_mean_is_everyone() -> None:
    wide = wide_of({"a": [10.0] * 4, "b": [20.0] * 4, "c": [60.0] * 4, "d": [100.0] * 4})
    zones = {"a": "north", "b": "north", "c": "north", "d": "south"}
    frame = feature_frame(wide, zones)
    last = frame[frame["made_from"] == frame["made_from"].max()].set_index("station")
    assert last.loc["a", "zone_mean"] == 40.0  # (20 + 60) / 2
    assert last.loc["c", "zone_mean"] == 15.0
    assert last.loc["d", "zone_mean"] == 47.5  # alone in its zone: the city's mean
    assert (last["city_mean"] == 47.5).all()


def test_a_missing_neighbour_does_not_count_in_the_zone_mean() -> None:
    nan = float("nan")
    wide = wide_of({"a": [10.0, 10.0], "b": [30.0, nan], "c": [50.0, 50.0]})
    frame = feature_frame(wide, {"a": "z", "b": "z", "c": "z"})
    last = frame[frame["made_from"] == frame["made_from"].max()].set_index("station")
    assert last.loc["a", "zone_mean"] == 50.0
    assert last.loc["c", "zone_mean"] == 10.0


def test_targets_line_up_with_features_and_calendar_is_local() -> None:
    values = [float(i) for i in range(10)]
    wide = wide_of({"a": values, "b": [v * 2 for v in values]})
    frame = feature_frame(wide, {})
    y = target(wide, 3)
    first = frame.index[(frame["made_from"] == pd.Timestamp(T0)) & (frame["station"] == "b")][0]
    assert y[first] == 6.0  # b at T0 + 3 h
    assert np.isnan(y[-1])  # nothing three hours after the last hour
    x = design(frame, 3, "Asia/Seoul")
    assert list(x.columns) == list(FEATURES)
    assert x.loc[first, "hour"] == 12.0  # T0 + 3 h is noon in Seoul
    assert x.loc[first, "weekday"] == 0.0  # Monday


def test_persistence_carries_the_last_hour_forward_and_mae_skips_unknowns() -> None:
    wide = wide_of({"a": [10.0, 12.0, 18.0, 20.0]})
    frame = feature_frame(wide, {})
    y = target(wide, 2)
    base = persistence(frame)
    # From 10 → 18 and from 12 → 20: both off by 8; the last two hours have no target.
    assert mae(base, y) == 8.0
    assert math.isnan(mae(np.array([1.0]), np.array([np.nan])))


@pytest.mark.parametrize(("model", "baseline", "skill"), [(2.0, 4.0, 0.5), (4.0, 4.0, 0.0), (6.0, 4.0, -0.5)])
def test_skill_compares_with_persistence(model: float, baseline: float, skill: float) -> None:
    assert HorizonScore(1, 10, model, baseline).skill == pytest.approx(skill)
