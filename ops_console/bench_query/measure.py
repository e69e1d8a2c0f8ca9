"""The three measurements of `cityhub bench query`, each on the bench's generated data.

- ``bucketed``: GET …/rows with ``bucket=1h`` over the whole month, as Arrow, end to end
  (request sent → last byte read), repeated;
- ``export``: a full-resolution Parquet export of ``rows`` rows streamed to a file while the
  console's RSS is sampled;
- ``compare``: :meth:`HubClient.read` against ``pandas.read_sql`` over the analyst's own SQL
  login, the same rows into a DataFrame indexed by time, each run several times.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pandas as pd
import psycopg
import pyarrow.ipc
import pyarrow.parquet

from hub.client import HubClient
from ops_console.bench_query import QueryBenchError
from ops_console.bench_query.console import Console, PeakRss
from ops_console.bench_query.data import METRIC, Dataset

DATASET = "air_quality"
ARROW = "application/vnd.apache.arrow.stream"
NAIVE_SQL = "SELECT * FROM anon.air_quality WHERE ts >= %(lo)s AND ts < %(hi)s"


@dataclass(frozen=True, slots=True)
class Latencies:
    what: str
    rows: int  # rows in each answer
    seconds: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Export:
    rows: int
    seconds: float
    bytes: int
    baseline_rss: int
    peak_rss: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


@dataclass(frozen=True, slots=True)
class Comparison:
    rows: int
    client_s: tuple[float, ...]
    read_sql_s: tuple[float, ...]


def span(data: Dataset, rows: int) -> tuple[datetime, datetime, int]:
    """The range from the data's start holding about *rows* readings (whole minutes, at most
    all of them), and the readings it holds."""
    minutes = min(data.minutes, max(1, math.ceil(rows / data.devices)))
    return data.start, data.start + timedelta(minutes=minutes), minutes * data.devices


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def bucketed(http: httpx.Client, data: Dataset, repeat: int, device: str | None = None) -> Latencies:
    """*repeat* hourly-bucket requests over the whole range (all stations, or one *device*),
    after one unmeasured warm-up call."""
    params = [("from", _iso(data.start)), ("to", _iso(data.end)), ("bucket", "1h"), ("agg", "avg"),
              ("metric", METRIC), ("format", "arrow")]
    if device is not None:
        params.append(("device_id", device))
    times: list[float] = []
    rows = 0
    for i in range(repeat + 1):
        began = time.perf_counter()
        response = http.get(f"/api/v1/datasets/{DATASET}/rows", params=tuple(params))
        elapsed = time.perf_counter() - began
        if response.status_code != 200:
            raise QueryBenchError(f"The bucketed query failed ({response.status_code}): "
                                  f"{response.text[:300]}")
        rows = pyarrow.ipc.open_stream(io.BytesIO(response.content)).read_all().num_rows
        if i:
            times.append(elapsed)
    what = f"one station, {data.minutes // 1440} days, 1 h buckets" if device else \
        f"{data.devices:,} stations, {data.minutes // 1440} days, 1 h buckets"
    return Latencies(what, rows, tuple(times))


def export(http: httpx.Client, console: Console, data: Dataset, rows: int, path: Path) -> Export:
    """A full-resolution Parquet export of about *rows* rows, streamed to *path*."""
    lo, hi, expected = span(data, rows)
    params = (("from", _iso(lo)), ("to", _iso(hi)), ("format", "parquet"))
    written = 0
    with PeakRss(console) as peak, path.open("wb") as out:
        began = time.perf_counter()
        with http.stream("GET", f"/api/v1/datasets/{DATASET}/rows", params=params) as response:
            if response.status_code != 200:
                response.read()
                raise QueryBenchError(f"The export failed ({response.status_code}): {response.text[:300]}")
            for chunk in response.iter_raw():
                out.write(chunk)
                written += len(chunk)
        seconds = time.perf_counter() - began
    got = pyarrow.parquet.read_metadata(path).num_rows
    if got != expected:
        raise QueryBenchError(f"The export held {got:,} rows, not the {expected:,} of its range.")
    return Export(got, seconds, written, peak.baseline, peak.bytes)


def _read_sql(sql_url: str, lo: datetime, hi: datetime) -> pd.DataFrame:
    with psycopg.connect(sql_url) as conn, warnings.catch_warnings():
        # pandas asks for SQLAlchemy with any DBAPI driver but sqlite3; it still works, and
        # a plain driver connection is what the naive notebook uses.
        warnings.simplefilter("ignore", UserWarning)
        # pandas-stubs know SQLAlchemy connections only; a DBAPI connection is what it takes.
        frame: pd.DataFrame = pd.read_sql(NAIVE_SQL, cast(Any, conn), params={"lo": lo, "hi": hi})
    return frame.set_index("ts")


def compare(base_url: str, login: tuple[str, str], sql_url: str, data: Dataset, rows: int,
            repeat: int) -> Comparison:
    """The same rows through the client and through ``pandas.read_sql``, *repeat* times each,
    alternating, after one unmeasured run of each."""
    lo, hi, expected = span(data, rows)
    client_s: list[float] = []
    sql_s: list[float] = []
    with HubClient(base_url, username=login[0], password=login[1]) as client:
        for i in range(repeat + 1):
            began = time.perf_counter()
            frame = client.read(DATASET, lo, hi)
            client_s.append(time.perf_counter() - began)
            began = time.perf_counter()
            naive = _read_sql(sql_url, lo, hi)
            sql_s.append(time.perf_counter() - began)
            if len(frame) != expected or len(naive) != expected:
                raise QueryBenchError(f"Expected {expected:,} rows; the client read {len(frame):,}, "
                                      f"read_sql {len(naive):,}.")
            if i == 0:
                client_s.clear()
                sql_s.clear()
    return Comparison(expected, tuple(client_s), tuple(sql_s))
