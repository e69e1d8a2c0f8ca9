"""The shared query layer picks the coarsest rollup a request allows, and the hourly
rollup holds what the raw readings say (plain profile, its trigger)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from hub import timeseries_query
from hub.catalogue import Catalogue
from hub.datasets.catalogue import get_dataset
from hub.datasets.request import parse_rows_request
from hub.timeseries_query import SeriesQuery
from tests.helpers import new_device

HOUR = datetime(2026, 11, 2, 5, tzinfo=UTC)


def _source(bucket: str, start: datetime, end: datetime, **extra: list[str]) -> str:
    params = {"from": [start.isoformat()], "to": [end.isoformat()], "bucket": [bucket], **extra}
    request = parse_rows_request(get_dataset("air_quality"), params, now=end)
    return timeseries_query.build(request.source(), request.series_query()).source


@pytest.mark.parametrize(("bucket", "start", "end", "source"), [
    ("1h", HOUR, HOUR + timedelta(days=30), "rollup_1h"),
    ("1d", HOUR - timedelta(hours=5), HOUR + timedelta(days=2, hours=19), "rollup_1h"),
    ("1h", HOUR + timedelta(minutes=1), HOUR + timedelta(hours=5), "rollup_1m"),
    ("15m", HOUR, HOUR + timedelta(hours=5), "rollup_1m"),
    ("1h", HOUR + timedelta(seconds=30), HOUR + timedelta(hours=5), "raw"),
])
def test_the_coarsest_rollup_that_fits_is_read(bucket: str, start: datetime, end: datetime,
                                               source: str) -> None:
    assert _source(bucket, start, end) == source


def test_hourly_rows_are_read_as_they_are_when_they_are_the_buckets() -> None:
    request = parse_rows_request(get_dataset("air_quality"), {
        "from": [HOUR.isoformat()], "to": [(HOUR + timedelta(days=1)).isoformat()], "bucket": ["1h"]},
        now=HOUR + timedelta(days=1))
    text = timeseries_query.build(request.source(), request.series_query()).query.as_string(None)
    assert "GROUP BY" not in text
    # Grouped by zone only, stations' hours must be added up.
    zoned = parse_rows_request(get_dataset("air_quality"), {
        "from": [HOUR.isoformat()], "to": [(HOUR + timedelta(days=1)).isoformat()], "bucket": ["1h"],
        "columns": ["zone"]}, now=HOUR + timedelta(days=1))
    assert "GROUP BY" in timeseries_query.build(zoned.source(), zoned.series_query()).query.as_string(None)


def test_a_query_without_rollups_aggregates_the_raw_rows() -> None:
    source = timeseries_query.Source(raw=("hub", "telemetry"), time="ts", value="value")
    built = timeseries_query.build(source, SeriesQuery(
        start=HOUR, end=HOUR + timedelta(hours=2), columns=("metric",), width=timedelta(hours=1),
        aggregates=("avg",)))
    assert built.source == "raw"


@pytest.mark.integration
def test_the_hourly_rollup_matches_the_readings(database_url: str, catalogue: Catalogue) -> None:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    readings = [(start + timedelta(seconds=45 * i), float(i % 13)) for i in range(240)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        device = new_device(conn, catalogue, "air_quality")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO hub.telemetry VALUES (%s, %s, 'pm25', %s)",
                            [(ts, device, v) for ts, v in readings[:150]])
            # A batch with redeliveries of stored readings: they must not count twice.
            cur.execute("INSERT INTO hub.telemetry SELECT ts, %s, 'pm25', v FROM unnest(%s::timestamptz[], "
                        "%s::float8[]) AS r(ts, v) ON CONFLICT DO NOTHING",
                        (device, [ts for ts, _ in readings[100:]], [v for _, v in readings[100:]]))
        got = conn.execute("SELECT bucket, n, sum, min, max FROM hub.telemetry_1h WHERE device_id = %s "
                           "ORDER BY bucket", (device,)).fetchall()
    hours: dict[datetime, list[float]] = {}
    for ts, value in readings:
        hours.setdefault(ts.replace(minute=0, second=0), []).append(value)
    assert got == [(h, len(v), sum(v), min(v), max(v)) for h, v in sorted(hours.items())]
