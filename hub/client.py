"""The data scientists' client: the hub's open datasets as pandas DataFrames and Arrow tables.

    >>> from hub.client import HubClient
    >>> hub = HubClient("http://localhost:8080", username="analyst", password="…")
    >>> pm25 = hub.read("air_quality_1h", "2025-03-01", "2025-04-01", metric="pm2_5", district="jung-gu")

Rows travel as an Arrow IPC stream (``format=arrow``), never as JSON, and are read batch by
batch as they arrive, so ``iter_batches`` handles ranges larger than memory. The module
imports nothing of the server: it needs pandas, pyarrow and httpx only, which a plain
``pip install cityhub`` brings (a data scientist's laptop needs no database driver).

Exceptions:

    HubClientError            anything this client reports; ``status`` and ``reason`` when the hub answered
     ├── HubUnavailable       the hub could not be reached, or the connection broke mid-stream
     ├── AuthenticationFailed 401: no token, an expired one, or a wrong password
     ├── PermissionDenied     403: the account's role may not do this
     ├── DatasetNotFound      404: no dataset of that name
     └── BadRequest           400: the hub refused a parameter; ``reason`` says which and why

httpx and pyarrow errors are translated at the edge with ``raise … from exc``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from types import TracebackType
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.ipc

__all__ = [
    "AuthenticationFailed", "BadRequest", "DatasetNotFound", "HubClient", "HubClientError",
    "HubUnavailable", "PermissionDenied",
]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
# What closes an Arrow IPC stream: a continuation marker and a zero length.
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
# Query parameters of the rows route that a column filter must not shadow.
RESERVED = frozenset({"from", "to", "bucket", "agg", "columns", "format", "limit", "after"})
TimeLike = str | date | datetime | pd.Timestamp
FilterValue = str | int | float | Sequence[str | int | float]


class HubClientError(Exception):
    """Base of every error this client raises; *status* and *reason* are the hub's answer, if any."""

    def __init__(self, message: str, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class HubUnavailable(HubClientError):
    pass


class AuthenticationFailed(HubClientError):
    pass


class PermissionDenied(HubClientError):
    pass


class DatasetNotFound(HubClientError):
    pass


class BadRequest(HubClientError):
    pass


_BY_STATUS: dict[int, type[HubClientError]] = {
    400: BadRequest, 401: AuthenticationFailed, 403: PermissionDenied, 404: DatasetNotFound,
    422: BadRequest,
}


def _reason(response: httpx.Response) -> str:
    """The hub's ``{"detail": …}``, or the start of whatever else it sent."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(detail, list):  # FastAPI's validation errors: one dict per bad parameter
        return "; ".join(f"{'.'.join(map(str, d.get('loc', ())))}: {d.get('msg')}" for d in detail)
    return str(detail)


def _check(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    response.read()
    reason = _reason(response)
    kind = _BY_STATUS.get(response.status_code, HubClientError)
    raise kind(f"{what} failed ({response.status_code}): {reason}", response.status_code, reason)


def timestamp(moment: TimeLike) -> str:
    """*moment* as ISO-8601 in UTC; a time without an offset is taken as UTC."""
    value = pd.Timestamp(moment)
    value = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
    return str(value.isoformat())


def rows_params(start: TimeLike, end: TimeLike, bucket: str | None, columns: Sequence[str] | None,
                agg: str | Sequence[str] | None, filters: Mapping[str, FilterValue]) -> list[tuple[str, str]]:
    """The query string of the rows route; a filter given a list matches any of its values."""
    params = [("from", timestamp(start)), ("to", timestamp(end)), ("format", "arrow")]
    if bucket is not None:
        params.append(("bucket", bucket))
    if agg is not None:
        params.append(("agg", agg if isinstance(agg, str) else ",".join(agg)))
    if columns is not None:
        params.append(("columns", ",".join(columns)))
    for name, value in filters.items():
        if name in RESERVED:
            raise HubClientError(f"{name!r} is a parameter of the query, not a column to filter on.")
        values = [value] if isinstance(value, str | int | float) else list(value)
        if not values:
            raise HubClientError(f"The filter on {name!r} lists no values; it would match no rows.")
        params += [(name, str(v)) for v in values]
    return params


def _utc(values: list[Any]) -> pd.DatetimeIndex:
    return pd.to_datetime([str(v) if v else "NaT" for v in values], utc=True, format="ISO8601")


class _ChunkFile(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (an HTTP body as it arrives), for
    ``pyarrow.ipc.open_stream``: nothing is read from the network before pyarrow asks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._current = memoryview(b"")
        self._position = 0
        self._tail = b""

    def ended_with(self, marker: bytes) -> bool:
        """Whether the last bytes read were *marker*."""
        return self._tail.endswith(marker)

    def drain(self) -> int:
        """Read what is left of the body (nothing, after a whole stream); its length. A body
        read to its end leaves the connection open for the next request."""
        left = len(self._current) + sum(len(chunk) for chunk in self._chunks)
        self._current = memoryview(b"")
        return left

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        wanted = -1 if size is None else size
        pieces: list[memoryview] = []
        while wanted != 0:
            if not self._current:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._current = memoryview(chunk)
                continue
            take = len(self._current) if wanted < 0 else min(wanted, len(self._current))
            pieces.append(self._current[:take])
            self._current = self._current[take:]
            wanted = wanted - take if wanted > 0 else wanted
        data = b"".join(pieces)
        self._position += len(data)
        self._tail = (self._tail + data[-8:])[-8:]
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _open_stream(name: str, response: httpx.Response) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema of the Arrow IPC stream in *response*, and its batches as they arrive."""
    body = _ChunkFile(response.iter_bytes())
    try:
        reader = pyarrow.ipc.open_stream(body)
    except httpx.TransportError as exc:
        raise HubUnavailable(f"Reading {name!r}: the connection broke: {exc}") from exc
    except (pa.ArrowException, OSError) as exc:
        raise HubClientError(f"Reading {name!r}: the hub's Arrow stream is malformed: {exc}") from exc
    return reader.schema, _read_batches(name, reader, body)


def _read_batches(name: str, reader: pa.RecordBatchStreamReader,
                  body: _ChunkFile) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except httpx.TransportError as exc:
        raise HubUnavailable(f"Reading {name!r}: the connection broke mid-stream: {exc}") from exc
    except (pa.ArrowException, OSError) as exc:
        raise HubClientError(f"Reading {name!r}: the hub's Arrow stream is incomplete or "
                             f"malformed: {exc}") from exc
    # A body cut between two batches reads like a shorter stream: only the marker tells.
    if not body.ended_with(END_OF_STREAM):
        raise HubClientError(f"Reading {name!r}: the hub's Arrow stream stopped before its end; "
                             "the rows are incomplete.")
    try:
        body.drain()
    except httpx.TransportError as exc:
        raise HubUnavailable(f"Reading {name!r}: the connection broke at the end: {exc}") from exc


class HubClient:
    """A session with one hub: ``HubClient(url, token)`` or ``HubClient(url, username=…, password=…)``.

    With a username and password the client logs in at once, and again when its access token
    has expired. *transport* is for tests (``httpx.MockTransport``).
    """

    def __init__(self, url: str, token: str | None = None, *, username: str | None = None,
                 password: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)
        self._credentials: tuple[str, str] | None = None
        self._entries: dict[str, dict[str, Any]] = {}
        self.token = token
        if username is not None or password is not None:
            if username is None or password is None:
                raise HubClientError("Give both username and password, or a token.")
            self.login(username, password)

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def login(self, username: str, password: str) -> str:
        """Log in; the access token is used for every later request and returned."""
        response = self._send(lambda: self._http.post(
            "/api/v1/auth/login", json={"username": username, "password": password}))
        _check(response, "Login")
        self.token = str(response.json()["access_token"])
        self._credentials = (username, password)
        return self.token

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = {"Accept": accept}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _send(self, request: Callable[[], httpx.Response]) -> httpx.Response:
        try:
            return request()
        except httpx.TransportError as exc:
            raise HubUnavailable(f"The hub at {self.url} could not be reached: {exc}") from exc

    def _relogin(self, response: httpx.Response) -> bool:
        """After a 401, log in again if the client knows how (the access token expired)."""
        if response.status_code != 401 or self._credentials is None:
            return False
        response.close()
        self.login(*self._credentials)
        return True

    def _get_json(self, path: str, what: str) -> Any:
        response = self._send(lambda: self._http.get(path, headers=self._headers()))
        if self._relogin(response):
            response = self._send(lambda: self._http.get(path, headers=self._headers()))
        _check(response, what)
        return response.json()

    def datasets(self) -> pd.DataFrame:
        """The catalogue: one row per dataset, indexed by name, with its English title,
        time coverage (UTC), estimated rows, update frequency, licence and privacy."""
        entries: list[dict[str, Any]] = self._get_json("/api/v1/datasets", "Listing datasets")["datasets"]
        self._entries.update({e["name"]: e for e in entries})
        table = pd.DataFrame({
            "name": [e["name"] for e in entries],
            "title": [(e.get("title") or {}).get("en") for e in entries],
            "time_column": [e.get("time_column") for e in entries],
            "first": _utc([(e.get("coverage") or {}).get("first") for e in entries]),
            "last": _utc([(e.get("coverage") or {}).get("last") for e in entries]),
            "rows": pd.array([e.get("rows") for e in entries], dtype="Int64"),
            "update_frequency": [e.get("update_frequency") for e in entries],
            "licence": [e.get("licence") for e in entries],
            "privacy": [e.get("privacy") for e in entries],
        })
        return table.set_index("name")

    def dataset(self, name: str) -> dict[str, Any]:
        """The catalogue entry of *name*: columns with types and units, coverage, how to query it."""
        entry: dict[str, Any] = self._get_json(f"/api/v1/datasets/{name}", f"Describing {name!r}")
        self._entries[name] = entry
        return entry

    def _open(self, path: str, params: list[tuple[str, str]]) -> httpx.Response:
        request = self._http.build_request("GET", path, params=tuple(params),
                                           headers=self._headers(ARROW_STREAM))
        return self._send(lambda: self._http.send(request, stream=True))

    @contextmanager
    def _rows(self, name: str, params: list[tuple[str, str]]) -> Iterator[httpx.Response]:
        """The streamed response of the rows route, checked to be an Arrow stream."""
        path = f"/api/v1/datasets/{name}/rows"
        response = self._open(path, params)
        if self._relogin(response):
            response = self._open(path, params)
        try:
            _check(response, f"Reading {name!r}")
            kind = response.headers.get("content-type", "").split(";")[0].strip()
            if kind != ARROW_STREAM:
                raise HubClientError(f"Reading {name!r}: the hub sent {kind or 'no content type'}, "
                                     f"not {ARROW_STREAM}.")
            yield response
        finally:
            response.close()

    def iter_batches(self, name: str, start: TimeLike, end: TimeLike, bucket: str | None = None,
                     columns: Sequence[str] | None = None, agg: str | Sequence[str] | None = None,
                     **filters: FilterValue) -> Iterator[pa.RecordBatch]:
        """The rows of *name* in ``[start, end)`` as Arrow record batches, read from the network
        one at a time: memory holds one batch, whatever the range. Filters are column=value
        (a list matches any of its values)."""
        params = rows_params(start, end, bucket, columns, agg, filters)
        with self._rows(name, params) as response:
            _schema, batches = _open_stream(name, response)
            yield from batches

    def read_arrow(self, name: str, start: TimeLike, end: TimeLike, bucket: str | None = None,
                   columns: Sequence[str] | None = None, agg: str | Sequence[str] | None = None,
                   **filters: FilterValue) -> pa.Table:
        """The rows of *name* in ``[start, end)`` as one Arrow table (see ``iter_batches``)."""
        params = rows_params(start, end, bucket, columns, agg, filters)
        with self._rows(name, params) as response:
            schema, batches = _open_stream(name, response)
            return pa.Table.from_batches(list(batches), schema=schema)

    def read(self, name: str, start: TimeLike, end: TimeLike, bucket: str | None = None,
             columns: Sequence[str] | None = None, agg: str | Sequence[str] | None = None,
             **filters: FilterValue) -> pd.DataFrame:
        """The rows of *name* in ``[start, end)`` as a DataFrame indexed by its time column
        (a UTC DatetimeIndex); strings as pandas strings, numbers as int64 / float64."""
        table = self.read_arrow(name, start, end, bucket, columns, agg, **filters)
        return self.to_frame(name, table)

    def _time_column(self, name: str, table: pa.Table) -> str | None:
        stamps = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
        if len(stamps) == 1:
            return stamps[0]
        if not stamps:
            return None
        entry = self._entries.get(name) or self.dataset(name)
        column = entry.get("time_column")
        return column if column in stamps else stamps[0]

    def to_frame(self, name: str, table: pa.Table) -> pd.DataFrame:
        """*table* (rows of *name*) as a DataFrame with a UTC DatetimeIndex on the time column."""
        frame = table.to_pandas()
        for field in table.schema:
            if pa.types.is_timestamp(field.type):
                column = pd.to_datetime(frame[field.name])
                frame[field.name] = (column.dt.tz_localize("UTC") if column.dt.tz is None
                                     else column.dt.tz_convert("UTC"))
        time_column = self._time_column(name, table)
        return frame.set_index(time_column) if time_column else frame
