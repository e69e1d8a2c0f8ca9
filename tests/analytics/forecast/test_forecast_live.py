"""The forecast on the real database: trained on the hub's hourly means, run by the live
service for every station, its pre-alert raised over the advisory level and lifted below it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from sklearn.dummy import DummyRegressor

from analytics.forecast.db import hourly_means
from analytics.forecast.features import HORIZONS, feature_frame, hourly_frame, target
from analytics.forecast.live import MODEL_NAME, Forecaster, last_complete_hour
from analytics.forecast.model import ForecastModel, mae, persistence
from analytics.forecast.prealert import ALERT_TYPE, RULE_ID, Advisory
from analytics.forecast.train import Trained, evaluate_stored, train
from analytics.spec import Level, RuleSpec
from devices.sim.fleet import SimDevice
from devices.sim.history import air_quality_history, dust_plumes
from hub.catalogue import Catalogue
from tests.fix_analytics import AnalyticsProcess
from tests.helpers import Conn, new_device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
DAYS = 10
TZ = "Asia/Seoul"
# Two districts: the west one (Mapo) sees a plume first.
PLACES = [("jung-gu", 37.5641, 126.9979), ("mapo-gu", 37.5663, 126.9019)]
RISING = [200.0, 220.0, 240.0]  # the high station's last three hours


@dataclass(frozen=True)
class History:
    stations: list[str]
    zones: dict[str, str]
    high: str  # a station in Jung-gu whose last hours rise far over the advisory level
    start: datetime
    last: datetime  # the last complete hour (bucket start), as the service sees it


def copy_rows(db: Conn, rows: list[tuple[datetime, str, str, float]]) -> None:
    with db.cursor() as cur, cur.copy("COPY hub.telemetry (ts, device_id, metric, value) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


@pytest.fixture(scope="module")
def history(database_url: str, catalogue: Catalogue) -> History:
    """Ten days of simulated PM2.5 (with dust plumes) for six stations, up to the last hour."""
    last = last_complete_hour(datetime.now(UTC))
    start = last + HOUR - timedelta(days=DAYS)
    fleet: list[SimDevice] = []
    with psycopg.connect(database_url, autocommit=True) as db:
        for zone, lat, lon in PLACES:
            for n in range(3):
                spot = (lat + 0.004 * (n - 1), lon + 0.005 * (n - 1))
                device = new_device(db, catalogue, "air_quality", zone=zone, lat=spot[0], lon=spot[1])
                fleet.append(SimDevice(device, "air_quality", zone, *spot))
        high = fleet[0].id
        t0, t1 = start.timestamp(), (last + HOUR).timestamp()
        rows = [r for r in air_quality_history(fleet, t0, t1, seed=5, step_s=1800,
                                               episodes=dust_plumes(t0, t1, 5, every_s=2 * 86_400))
                if not (r[1] == high and r[0] >= last - 2 * HOUR)]
        rows += [(last - (2 - i) * HOUR + timedelta(minutes=m), high, "pm25", v)
                 for i, v in enumerate(RISING) for m in (10, 40)]
        copy_rows(db, rows)
    return History([d.id for d in fleet], {d.id: d.zone for d in fleet}, high, start, last)


@pytest.fixture(scope="module")
def trained(database_url: str, history: History) -> Iterator[Trained]:
    with psycopg.connect(database_url, autocommit=True) as db:
        result = train(db, history.start, history.last + HOUR, tz=TZ, holdout=0.25, iterations=50)
    yield result
    # Other modules' analytics processes must not forecast with it.
    with psycopg.connect(database_url, autocommit=True) as db:
        db.execute("DELETE FROM hub.analytics_models WHERE name = %s", (MODEL_NAME,))


def test_training_scores_every_horizon_against_persistence_on_the_held_out_tail(
    db: Conn, history: History, trained: Trained,
) -> None:
    # The report, recomputed from the same hourly means: rows and persistence's MAE per horizon.
    wide = hourly_frame(hourly_means(db, history.start, history.last + HOUR))
    frame = feature_frame(wide, {})
    cutoff = wide.index[int(len(wide.index) * 0.75)]
    scores = {s.horizon: s for s in trained.model.scores}
    assert sorted(scores) == list(HORIZONS)
    for h, s in scores.items():
        y = target(wide, h)
        tail = np.asarray(frame["made_from"] >= cutoff) & ~np.isnan(y) & ~np.isnan(persistence(frame))
        assert s.rows == int(tail.sum())
        assert s.persistence_mae == pytest.approx(mae(persistence(frame[tail]), y[tail]))
        assert s.mae >= 0
    # The daily cycle is what persistence cannot know six hours on; the model's hour of day does.
    assert scores[6].mae < scores[6].persistence_mae
    stored = db.execute("SELECT version, scores FROM hub.analytics_models WHERE name = %s "
                        "ORDER BY version DESC LIMIT 1", (MODEL_NAME,)).fetchone()
    assert stored is not None
    assert stored[0] == trained.info.version
    # The stored version, scored on the last three days as `cityhub analytics forecast evaluate` does.
    info, later = evaluate_stored(db, history.last - timedelta(days=3), history.last + HOUR)
    assert info.version == trained.info.version
    assert [s.horizon for s in later] == list(HORIZONS)
    assert all(s.rows > 0 for s in later)
    document: dict[str, Any] = stored[1]  # type: ignore[assignment]
    assert document["horizons"] == list(HORIZONS)
    assert document["persistence_mae"][5] == pytest.approx(scores[6].persistence_mae, abs=1e-3)
    assert document["mae"][5] == pytest.approx(scores[6].mae, abs=1e-3)


def forecasts_of(db: Conn, stations: list[str]) -> list[tuple[Any, ...]]:
    cur = db.execute("SELECT device_id, made_at, target_at, horizon_h, value, model_version "
                     "FROM hub.forecasts WHERE device_id = ANY(%s) ORDER BY device_id, horizon_h",
                     (stations,))
    return [tuple(r) for r in cur.fetchall()]


def test_the_service_forecasts_every_station_and_raises_the_pre_alert(
    db: Conn, history: History, trained: Trained, analytics: AnalyticsProcess,
) -> None:
    def complete() -> list[tuple[Any, ...]] | None:
        rows = forecasts_of(db, history.stations)
        return rows if len(rows) == len(HORIZONS) * len(history.stations) else None

    rows = wait_for(complete, timeout=30, what="a forecast for every station")
    made_at = history.last + HOUR
    assert {(r[0], r[3]) for r in rows} == {(s, h) for s in history.stations for h in HORIZONS}
    assert all(r[1] == made_at and r[2] == made_at + (r[3] - 1) * HOUR and r[5] == trained.info.version
               for r in rows)
    high = [r[4] for r in rows if r[0] == history.high]
    assert min(high[:2]) >= 75  # 240 in its last hour: no learnt fall brings it under the level
    alert = wait_for(lambda: db.execute(
        "SELECT alert_type, severity, source, metric, value, zone, suggested_agency, title FROM hub.alerts "
        "WHERE device_id = %s AND rule_id = %s", (history.high, RULE_ID)).fetchone(), what="the pre-alert")
    assert alert[:4] == (ALERT_TYPE, "info", "rule", "pm25")
    assert alert[4] == pytest.approx(max(high), abs=0.1)
    assert alert[5:7] == ("jung-gu", "jung-gu-office")
    assert str(alert[7]).startswith("Forecast:")


ADVISORY_RULE = RuleSpec(id="pm25-fine-dust", kind="threshold", title="advisory", alert_type="fine_dust",
                         metric="pm25", levels=(Level("advisory", "warning", 75.0, 7200.0, 35.0),))


def persistence_model(at: datetime) -> ForecastModel:
    """A model that forecasts the last hourly mean for every horizon."""
    zero = DummyRegressor(strategy="constant", constant=0.0).fit([[0.0]], [0.0])
    return ForecastModel(HORIZONS, (zero,) * len(HORIZONS), TZ, at, at, ())


def test_a_run_below_the_level_lifts_the_pre_alert(
    db: Conn, catalogue: Catalogue, database_url: str, history: History,
) -> None:
    zone = f"zone-{secrets.token_hex(3)}"
    station = new_device(db, catalogue, "air_quality", zone=zone)
    # Days before the service's run: only this module's stations have hours there.
    first = history.start + timedelta(days=1)
    copy_rows(db, [(first + timedelta(minutes=5), station, "pm25", 96.0),
                   (first + HOUR + timedelta(minutes=5), station, "pm25", 20.0)])

    async def runs() -> tuple[int, int]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            forecaster = Forecaster(conn)
            forecaster.model, forecaster.version = persistence_model(first), 1
            raised = await forecaster.run(first, [ADVISORY_RULE], frozenset())
            lifted = await forecaster.run(first + HOUR, [ADVISORY_RULE], frozenset())
            return raised, lifted

    raised, lifted = asyncio.run(runs())
    alert = db.execute("SELECT state, outcome, value, last_seen FROM hub.alerts WHERE device_id = %s "
                       "AND rule_id = %s", (station, RULE_ID)).fetchall()
    assert alert == [("resolved", "cleared", 96.0, first + HOUR)]
    assert raised >= 1
    assert lifted >= 1
    assert Advisory(75.0, 2) == Advisory(ADVISORY_RULE.levels[0].above, 2)
