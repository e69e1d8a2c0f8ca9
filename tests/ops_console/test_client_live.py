"""hub.client against the real console and database: what a data scientist's notebook sees.

Each test writes its own stations (ids and zone unique to the run) with readings a minute
apart, then reads them back through HubClient and checks them against hub.telemetry.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest

from hub.catalogue import Catalogue
from hub.client import BadRequest, DatasetNotFound, HubClient, PermissionDenied
from hub.registry import add_device
from ops_console.testing import Accounts, ConsoleServer

pytestmark = pytest.mark.integration

MINUTES = 180


def _stations(database_url: str, catalogue: Catalogue, start: datetime) -> tuple[str, list[str]]:
    """Two stations of a new zone with pm25 and pm10 each minute for MINUTES from *start*."""
    zone = f"client-{secrets.token_hex(3)}"
    devices = [f"cl-{secrets.token_hex(3)}-{i}" for i in range(2)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT hub.maintain()")
        for device in devices:
            add_device(conn, catalogue, device, "air_quality", zone=zone)
        with conn.cursor().copy("COPY hub.telemetry (ts, device_id, metric, value) FROM STDIN") as copy:
            for i, device in enumerate(devices):
                for m in range(MINUTES):
                    copy.write_row((start + timedelta(minutes=m), device, "pm25", 10.0 + i + m % 7))
                    copy.write_row((start + timedelta(minutes=m), device, "pm10", 30.0 + m % 5))
    return zone, devices


@pytest.fixture
def start() -> datetime:
    return (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def analyst(console_server: ConsoleServer, accounts: Accounts) -> Iterator[HubClient]:
    username, password = accounts.user_for("analyst")
    with HubClient(console_server.base_url, username=username, password=password) as client:
        yield client


def test_read_returns_the_stored_readings_with_utc_index(
    analyst: HubClient, database_url: str, catalogue: Catalogue, start: datetime,
) -> None:
    zone, devices = _stations(database_url, catalogue, start)
    frame = analyst.read("air_quality", start, start + timedelta(minutes=MINUTES), zone=zone, metric="pm25")
    assert len(frame) == 2 * MINUTES
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert frame.index.name == "ts"
    assert frame.index.min() == pd.Timestamp(start)
    assert set(frame["device_id"]) == set(devices)
    assert frame["value"].dtype == "float64"
    assert pd.api.types.is_string_dtype(frame["device_id"])
    first = frame[frame["device_id"] == devices[1]].sort_index()["value"].iloc[:7].tolist()
    assert first == [11.0 + m for m in range(7)]


def test_hourly_buckets_average_the_minutes(
    analyst: HubClient, database_url: str, catalogue: Catalogue, start: datetime,
) -> None:
    zone, devices = _stations(database_url, catalogue, start)
    hours = analyst.read("air_quality", start, start + timedelta(minutes=MINUTES), bucket="1h",
                         agg=["avg", "max", "count"], columns=["device_id"], zone=zone, metric="pm25")
    assert isinstance(hours.index, pd.DatetimeIndex)
    assert str(hours.index.tz) == "UTC"
    assert len(hours) == 2 * MINUTES // 60
    one = hours[hours["device_id"] == devices[0]].sort_index()
    assert one["count"].tolist() == [60, 60, 60]
    assert one["count"].dtype == "int64"
    first_hour = [10.0 + m % 7 for m in range(60)]
    assert one["avg"].iloc[0] == pytest.approx(sum(first_hour) / 60)
    assert one["max"].iloc[0] == 16.0


def test_iter_batches_and_read_arrow_give_the_same_rows(
    analyst: HubClient, database_url: str, catalogue: Catalogue, start: datetime,
) -> None:
    zone, _devices = _stations(database_url, catalogue, start)
    end = start + timedelta(minutes=MINUTES)
    table = analyst.read_arrow("air_quality", start, end, zone=zone)
    batches = list(analyst.iter_batches("air_quality", start, end, zone=zone))
    assert table.num_rows == 2 * 2 * MINUTES
    assert sum(b.num_rows for b in batches) == table.num_rows
    assert set(table.column_names) >= {"ts", "device_id", "zone", "metric", "value", "unit"}


def test_the_catalogue(analyst: HubClient) -> None:
    catalogue = analyst.datasets()
    assert {"air_quality", "air_quality_1m", "air_quality_1h", "devices", "cctv_event_counts"} <= set(
        catalogue.index)
    assert catalogue.loc["air_quality", "privacy"] == "not personal"
    entry = analyst.dataset("air_quality")
    assert entry["time_column"] == "ts"
    assert "zone" in entry["filters"]


def test_refusals_are_client_errors_with_the_reason(
    analyst: HubClient, console_server: ConsoleServer, token_for: Callable[[str], str], start: datetime,
) -> None:
    end = start + timedelta(hours=1)
    with pytest.raises(BadRequest) as caught:
        analyst.read("air_quality", start, end, columns=["no_such_column"])
    assert caught.value.status == 400
    assert "no_such_column" in str(caught.value.reason)
    with pytest.raises(BadRequest, match="2h"):
        analyst.read("air_quality", start, end, bucket="2h")
    with pytest.raises(DatasetNotFound):
        analyst.read("no_such_dataset", start, end)
    with HubClient(console_server.base_url, token_for("operator")) as operator, \
            pytest.raises(PermissionDenied):
        operator.read("air_quality", start, end)
