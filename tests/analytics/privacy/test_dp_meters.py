"""Meter energy sums with differential privacy, on synthetic households in the real
database: the sums match SQL written apart from the method when the noise vanishes, the
bound cuts what it says, and nothing of a household is published."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest

from analytics.privacy.meter_dp import MeterEnergyDP
from analytics.privacy.method import Period
from analytics.privacy.synth_meters import make_meters, write_meters
from tests.helpers import Conn

pytestmark = pytest.mark.integration

# Telemetry is kept 90 days; 40 days back no other test writes meter readings.
START = (datetime.now(UTC) - timedelta(days=40)).replace(hour=15, minute=0, second=0, microsecond=0)
PERIOD = Period(START, START + timedelta(days=2))


@pytest.fixture(scope="module")
def meters_db(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        write_meters(conn, make_meters(150, START, days=2, seed=5, prefix="h6dp"))
    return database_url


@pytest.fixture
def conn(meters_db: str) -> Iterator[Conn]:
    with psycopg.connect(meters_db, autocommit=True) as c:
        yield c


def true_sums(conn: Conn, bucket_hours: int) -> dict[tuple[pd.Timestamp, str], float]:
    """Energy per zone and bucket straight from hub.telemetry: mean kW per hour = kWh."""
    rows = conn.execute("""
        SELECT date_bin(make_interval(hours => %(width)s), hour, %(start)s) AS bucket, zone, sum(kwh)
        FROM (SELECT date_bin('1 hour', t.ts, %(start)s) AS hour, d.zone, avg(t.value) AS kwh
              FROM hub.telemetry t JOIN hub.devices d ON d.id = t.device_id AND d.kind = 'smart_meter'
              WHERE t.metric = 'power_kw' AND t.ts >= %(start)s AND t.ts < %(end)s
              GROUP BY t.device_id, d.zone, 1) h
        GROUP BY 1, 2""", {"width": bucket_hours, "start": PERIOD.start, "end": PERIOD.end}).fetchall()
    return {(pd.Timestamp(str(r[0])), str(r[1])): float(str(r[2])) for r in rows}


def test_without_noise_the_sums_are_the_true_ones(conn: Conn) -> None:
    method = MeterEnergyDP()
    data = method.load(conn, PERIOD)
    released = method.release(data, {"epsilon": 1e7, "max_kwh_per_day": 1000.0})
    table = released.table
    assert list(table.columns) == ["bucket", "zone", "kwh"]
    assert len(table) == 2 * len(data.attrs["zones"])  # every zone, every day
    truth = true_sums(conn, 24)
    published = {(r["bucket"], r["zone"]): r["kwh"] for r in table.to_dict("records") if r["kwh"] > 0}
    assert published.keys() == truth.keys()
    assert all(abs(published[k] - v) <= 0.1 for k, v in truth.items())
    assert released.measures["kwh_cut_by_bound"] == 0.0
    assert not table.astype(str).apply(lambda c: c.str.contains("h6dp")).any().any()


def test_the_bound_limits_each_household_and_sets_the_noise(conn: Conn) -> None:
    method = MeterEnergyDP()
    data = method.load(conn, PERIOD)
    per_zone = data.groupby("zone")["household"].nunique()
    released = method.release(data, {"epsilon": 1e7, "max_kwh_per_day": 0.5})
    assert float(released.measures["kwh_cut_by_bound"]) > 0
    for row in released.table.to_dict("records"):
        assert row["kwh"] <= per_zone.get(row["zone"], 0) * 0.5 + 0.1
    default = method.release(data, dict(method.defaults))
    # Two daily buckets × 10 kWh: one household moves the sums by at most 20 kWh.
    assert default.epsilon == 1.0
    assert default.measures["sensitivity"] == 20.0
    assert default.measures["noise_scale"] == pytest.approx(20.0)
    assert (default.table["kwh"] >= 0).all()
    assert default.linkage_success < 0.05
