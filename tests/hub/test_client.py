"""hub.client against a fake hub (httpx.MockTransport) that serves real Arrow IPC streams.

Nothing runs: the transport answers in-process. tests/ops_console/test_client_live.py runs the
same client against the real console.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.ipc
import pytest

from hub.client import (
    ARROW_STREAM,
    AuthenticationFailed,
    BadRequest,
    DatasetNotFound,
    HubClient,
    HubClientError,
    HubUnavailable,
    PermissionDenied,
)

URL = "http://hub.test"
START = datetime(2025, 3, 1, tzinfo=UTC)
ENTRY = {
    "name": "air_quality_1h", "title": {"en": "Air quality, hourly", "ko": "대기질 (1시간)"},
    "description": {"en": "…", "ko": "…"}, "time_column": "bucket",
    "columns": [{"name": "bucket", "type": "timestamptz", "unit": None, "description": ""}],
    "coverage": {"first": "2025-03-01T00:00:00+00:00", "last": "2025-03-31T23:00:00+00:00"},
    "rows": 72000, "update_frequency": "hourly", "licence": "KOGL Type 1", "privacy": "not personal",
    "filters": ["device_id", "metric"], "access": {"api": "…", "client": "…", "sql": "…"},
}


def readings(n: int) -> pa.Table:
    """*n* hourly readings of two devices, as the rows route sends them."""
    return pa.table({
        "ts": pa.array([START + timedelta(hours=i) for i in range(n)], pa.timestamp("us", tz="UTC")),
        "device_id": pa.array([f"aq-jung-{i % 2:04d}" for i in range(n)], pa.string()),
        "value": pa.array([float(i) / 4 for i in range(n)], pa.float64()),
        "count": pa.array(list(range(n)), pa.int64()),
    })


def ipc_stream(table: pa.Table, batch_rows: int = 100) -> bytes:
    sink = io.BytesIO()
    with pyarrow.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=batch_rows):
            writer.write_batch(batch)
    return sink.getvalue()


class Chunks(httpx.SyncByteStream):
    """A response body sent in small pieces; ``sent`` counts those the client has pulled."""

    def __init__(self, data: bytes, size: int = 997) -> None:
        self.pieces = [data[i:i + size] for i in range(0, len(data), size)]
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            self.sent += 1
            yield piece


class FakeHub:
    """Answers login, the catalogue and the rows route; remembers every request."""

    def __init__(self, table: pa.Table | None = None) -> None:
        self.table = readings(500) if table is None else table
        self.requests: list[httpx.Request] = []
        self.valid_tokens = {"t-1"}
        self.logins = 0
        self.rows_answer: Callable[[httpx.Request], httpx.Response] | None = None
        self.body: Chunks | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/v1/auth/login":
            if json.loads(request.content) != {"username": "ana", "password": "pw"}:
                return httpx.Response(401, json={"detail": "Wrong username or password."})
            self.logins += 1
            token = f"t-{self.logins}"
            self.valid_tokens = {token}
            return httpx.Response(200, json={"access_token": token, "refresh_token": "r",
                                             "token_type": "bearer", "expires_in": 900, "role": "analyst"})
        if request.headers.get("authorization") not in {f"Bearer {t}" for t in self.valid_tokens}:
            return httpx.Response(401, json={"detail": "The access token has expired."})
        if path == "/api/v1/datasets":
            return httpx.Response(200, json={"datasets": [ENTRY, {**ENTRY, "name": "devices",
                                                                  "time_column": None, "rows": None}]})
        if path == "/api/v1/datasets/air_quality_1h":
            return httpx.Response(200, json=ENTRY)
        if path == "/api/v1/datasets/nope/rows":
            return httpx.Response(404, json={"detail": "No dataset named 'nope'."})
        if path.endswith("/rows"):
            if self.rows_answer is not None:
                return self.rows_answer(request)
            self.body = Chunks(ipc_stream(self.table))
            return httpx.Response(200, headers={"content-type": ARROW_STREAM}, stream=self.body)
        return httpx.Response(404, json={"detail": "Not Found"})

    def client(self, token: str | None = "t-1", username: str | None = None,
               password: str | None = None) -> HubClient:
        return HubClient(URL, token, username=username, password=password,
                         transport=httpx.MockTransport(self.handle))

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub()


def test_read_gives_a_typed_frame_indexed_by_utc_time(hub: FakeHub) -> None:
    frame = hub.client().read("air_quality", "2025-03-01", "2025-03-02")
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "ts"
    assert str(frame.index.tz) == "UTC"
    assert frame.index[0] == pd.Timestamp(START)
    assert list(frame.columns) == ["device_id", "value", "count"]
    assert pd.api.types.is_string_dtype(frame["device_id"])
    assert frame["value"].dtype == "float64"
    assert frame["count"].dtype == "int64"
    assert len(frame) == hub.table.num_rows
    assert frame["value"].tolist() == hub.table.column("value").to_pylist()


def test_rows_are_asked_for_as_arrow_with_every_parameter(hub: FakeHub) -> None:
    hub.client().read_arrow("air_quality_1h", "2025-03-01", datetime(2025, 3, 2, 9, tzinfo=timezone(
        timedelta(hours=9))), bucket="1h", columns=["device_id", "avg"], agg=["avg", "max"],
        district="jung-gu", metric=["pm2_5", "pm10"])
    request = hub.last
    assert request.url.path == "/api/v1/datasets/air_quality_1h/rows"
    assert request.headers["accept"] == ARROW_STREAM
    assert request.headers["authorization"] == "Bearer t-1"
    params = request.url.params
    # A date without an offset is UTC; Seoul time is converted.
    assert params["from"] == "2025-03-01T00:00:00+00:00"
    assert params["to"] == "2025-03-02T00:00:00+00:00"
    assert params["format"] == "arrow"
    assert params["bucket"] == "1h"
    assert params["agg"] == "avg,max"
    assert params["columns"] == "device_id,avg"
    assert params["district"] == "jung-gu"
    assert params.get_list("metric") == ["pm2_5", "pm10"]


def test_read_arrow_returns_the_served_table(hub: FakeHub) -> None:
    table = hub.client().read_arrow("air_quality", START, START + timedelta(days=1))
    assert table.equals(hub.table)


def test_iter_batches_reads_the_stream_incrementally() -> None:
    hub = FakeHub(readings(20_000))
    batches = hub.client().iter_batches("air_quality", START, START + timedelta(days=900))
    first = next(batches)
    assert first.num_rows == 100
    assert hub.body is not None
    # Only the first batch's bytes (and a chunk) have been pulled from the network.
    assert hub.body.sent < len(hub.body.pieces) / 10
    rest = list(batches)
    assert sum(b.num_rows for b in rest) + first.num_rows == 20_000
    assert hub.body.sent == len(hub.body.pieces)


def test_an_empty_range_gives_an_empty_frame_with_the_columns() -> None:
    hub = FakeHub(readings(0))
    frame = hub.client().read("air_quality", "2025-03-01", "2025-03-02")
    assert frame.empty
    assert list(frame.columns) == ["device_id", "value", "count"]
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"


def test_naive_timestamps_from_the_wire_become_utc() -> None:
    naive = pa.table({"ts": pa.array([datetime(2025, 3, 1, 12)], pa.timestamp("us")), "v": [1.0]})
    frame = FakeHub(naive).client().read("air_quality", "2025-03-01", "2025-03-02")
    assert frame.index[0] == pd.Timestamp("2025-03-01T12:00Z")


def test_with_several_time_columns_the_catalogue_names_the_index(hub: FakeHub) -> None:
    hub.table = pa.table({
        "seen": pa.array([START], pa.timestamp("us", tz="UTC")),
        "bucket": pa.array([START + timedelta(hours=1)], pa.timestamp("us", tz="UTC")),
        "avg": [1.0],
    })
    frame = hub.client().read("air_quality_1h", "2025-03-01", "2025-03-02")
    assert frame.index.name == "bucket"
    assert str(frame["seen"].dt.tz) == "UTC"


def test_login_with_a_password_and_again_when_the_token_expires(hub: FakeHub) -> None:
    client = hub.client(None, username="ana", password="pw")
    assert client.token == "t-1"
    assert json.loads(hub.requests[0].content) == {"username": "ana", "password": "pw"}
    hub.valid_tokens = {"t-other"}  # the access token expired
    frame = client.read("air_quality", "2025-03-01", "2025-03-02")
    assert len(frame) == hub.table.num_rows
    assert client.token == "t-2"
    assert client.datasets().index.tolist() == ["air_quality_1h", "devices"]


def test_a_wrong_password_is_an_authentication_error(hub: FakeHub) -> None:
    with pytest.raises(AuthenticationFailed, match="Wrong username or password") as caught:
        hub.client(None, username="ana", password="nope")
    assert caught.value.status == 401


def test_without_credentials_an_expired_token_is_reported(hub: FakeHub) -> None:
    with pytest.raises(AuthenticationFailed, match="expired"):
        hub.client("t-old").read("air_quality", "2025-03-01", "2025-03-02")


def test_the_catalogue_as_a_frame_and_an_entry_as_a_dict(hub: FakeHub) -> None:
    client = hub.client()
    catalogue = client.datasets()
    assert catalogue.loc["air_quality_1h", "title"] == "Air quality, hourly"
    assert catalogue.loc["air_quality_1h", "first"] == pd.Timestamp("2025-03-01T00:00Z")
    assert catalogue.loc["air_quality_1h", "rows"] == 72000
    assert catalogue["rows"].isna().tolist() == [False, True]
    assert catalogue.loc["air_quality_1h", "privacy"] == "not personal"
    assert client.dataset("air_quality_1h") == ENTRY


@pytest.mark.parametrize(("status", "kind"), [
    (400, BadRequest), (403, PermissionDenied), (500, HubClientError)])
def test_a_refusal_carries_the_hubs_reason(hub: FakeHub, status: int, kind: type[HubClientError]) -> None:
    hub.rows_answer = lambda _r: httpx.Response(status, json={"detail": "Unknown column 'pm3'."})
    with pytest.raises(kind, match=r"Reading 'air_quality' failed \(\d+\): Unknown column 'pm3'\.") as caught:
        hub.client().read("air_quality", "2025-03-01", "2025-03-02", columns=["pm3"])
    assert caught.value.status == status
    assert caught.value.reason == "Unknown column 'pm3'."


def test_validation_errors_name_the_parameter(hub: FakeHub) -> None:
    detail = [{"loc": ["query", "limit"], "msg": "Input should be greater than 0", "type": "x"}]
    hub.rows_answer = lambda _r: httpx.Response(422, json={"detail": detail})
    with pytest.raises(BadRequest, match=r"query\.limit: Input should be greater than 0"):
        hub.client().read("air_quality", "2025-03-01", "2025-03-02")


def test_an_unknown_dataset(hub: FakeHub) -> None:
    with pytest.raises(DatasetNotFound, match="No dataset named 'nope'"):
        hub.client().read("nope", "2025-03-01", "2025-03-02")


def test_json_instead_of_arrow_is_refused(hub: FakeHub) -> None:
    hub.rows_answer = lambda _r: httpx.Response(200, json={"rows": []})
    with pytest.raises(HubClientError, match=re.escape("application/json, not " + ARROW_STREAM)):
        hub.client().read("air_quality", "2025-03-01", "2025-03-02")


def test_a_stream_cut_short_is_an_error_not_fewer_rows(hub: FakeHub) -> None:
    data = ipc_stream(hub.table)
    hub.rows_answer = lambda _r: httpx.Response(200, headers={"content-type": ARROW_STREAM},
                                                content=data[:len(data) // 2])
    with pytest.raises(HubClientError, match="incomplete or malformed"):
        hub.client().read("air_quality", "2025-03-01", "2025-03-02")


def test_a_stream_cut_between_batches_is_an_error_too(hub: FakeHub) -> None:
    data = ipc_stream(hub.table)
    assert data.endswith(b"\xff\xff\xff\xff\x00\x00\x00\x00")
    hub.rows_answer = lambda _r: httpx.Response(200, headers={"content-type": ARROW_STREAM},
                                                content=data[:-8])
    with pytest.raises(HubClientError, match="stopped before its end"):
        hub.client().read("air_quality", "2025-03-01", "2025-03-02")
    with pytest.raises(HubClientError, match="stopped before its end"):
        list(hub.client().iter_batches("air_quality", "2025-03-01", "2025-03-02"))


def test_an_unreachable_hub() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    client = HubClient(URL, "t", transport=httpx.MockTransport(refuse))
    with pytest.raises(HubUnavailable, match="could not be reached"):
        client.datasets()


def test_a_filter_may_not_shadow_a_parameter(hub: FakeHub) -> None:
    with pytest.raises(HubClientError, match="'limit' is a parameter of the query"):
        hub.client().read("air_quality", "2025-03-01", "2025-03-02", limit="5")
    with pytest.raises(HubClientError, match="lists no values"):
        hub.client().read("air_quality", "2025-03-01", "2025-03-02", metric=[])


def test_the_client_imports_nothing_of_the_server() -> None:
    code = ("import sys, hub.client; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'hub', 'ops_console', 'ingest', 'analytics', 'devices', 'psycopg', 'fastapi'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['hub', 'hub.client']"
