"""/api/v1/datasets: catalogue, rows in every format, buckets from rollup and raw, paging, errors."""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

from hub.catalogue import Catalogue
from ops_console.api.datasets import forget_stats
from tests.helpers import new_device
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


class City:
    def __init__(self, zone: str, other_zone: str, a: str, b: str, c: str) -> None:
        self.zone, self.other_zone, self.a, self.b, self.c = zone, other_zone, a, b, c

    def readings(self) -> list[tuple[datetime, str, str, float]]:
        """(ts, device, metric, value) of the zone's pm25 and pm10 readings."""
        out = [(T0 + timedelta(seconds=20 * i), self.a, "pm25", float(i)) for i in range(180)]
        out += [(T0 + timedelta(minutes=i), self.b, "pm25", 10.0) for i in range(60)]
        out += [(T0 + timedelta(minutes=i), self.a, "pm10", 50.0 + i) for i in range(60)]
        return out


@pytest.fixture(scope="module")
def city(database_url: str, catalogue: Catalogue) -> City:
    zone, other = f"zt-{secrets.token_hex(3)}", f"zo-{secrets.token_hex(3)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        a = new_device(conn, catalogue, "air_quality", zone=zone)
        b = new_device(conn, catalogue, "air_quality", zone=zone)
        c = new_device(conn, catalogue, "air_quality", zone=other)
        made = City(zone, other, a, b, c)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO hub.telemetry VALUES (%s, %s, %s, %s)",
                            [*made.readings(), (T0, c, "pm25", 99.0)])
    return made


def get(client: httpx.Client, token: str, path: str, **params: Any) -> httpx.Response:
    return client.get(path, params=params, headers=bearer(token))


@pytest.fixture
def analyst(token_for: Callable[[str], str]) -> str:
    return token_for("analyst")


def jsonl(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def span() -> dict[str, str]:
    return {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}


def test_catalogue_lists_every_dataset_with_coverage_and_how_to_query(
    client: httpx.Client, analyst: str, city: City, console_app: FastAPI
) -> None:
    forget_stats(console_app)  # figures cached by earlier tests predate this city
    response = get(client, analyst, "/api/v1/datasets")
    assert response.status_code == 200, response.text
    entries = {e["name"]: e for e in response.json()["datasets"]}
    assert set(entries) >= {"air_quality", "air_quality_1m", "air_quality_1h", "devices", "cctv_event_counts"}
    aq = entries["air_quality"]
    assert aq["title"]["ko"]
    assert aq["title"]["en"]
    assert aq["description"]["ko"]
    assert aq["privacy"] == "not personal"
    assert aq["licence"]
    assert [c["name"] for c in aq["columns"]] == ["ts", "device_id", "zone", "metric", "value", "unit"]
    assert datetime.fromisoformat(aq["coverage"]["first"]) <= T0
    assert datetime.fromisoformat(aq["coverage"]["last"]) >= max(r[0] for r in city.readings())
    assert aq["rows"] >= len(city.readings())
    assert set(aq["access"]) == {"api", "client", "sql"}
    assert "anon.air_quality" in aq["access"]["sql"]
    one = get(client, analyst, "/api/v1/datasets/devices")
    assert one.status_code == 200
    assert one.json()["name"] == "devices"
    assert get(client, analyst, "/api/v1/datasets/no_such").status_code == 404


def read_table(fmt: str, body: bytes) -> pa.Table:
    if fmt == "arrow":
        return pa.ipc.open_stream(body).read_all()
    return pq.read_table(io.BytesIO(body))


def test_raw_rows_are_the_same_in_every_format(client: httpx.Client, analyst: str, city: City) -> None:
    want = sorted((ts, d, m, v) for ts, d, m, v in city.readings())
    path = "/api/v1/datasets/air_quality/rows"
    lines = jsonl(get(client, analyst, path, zone=city.zone, **span()))
    assert sorted((datetime.fromisoformat(r["ts"]), r["device_id"], r["metric"], r["value"])
                  for r in lines) == want
    assert {r["unit"] for r in lines} == {"µg/m³"}
    assert {r["zone"] for r in lines} == {city.zone}

    text = get(client, analyst, path, zone=city.zone, format="csv", **span())
    assert text.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(text.text)))
    assert sorted((datetime.fromisoformat(r["ts"]), r["device_id"], r["metric"], float(r["value"]))
                  for r in table) == want

    for fmt in ("arrow", "parquet"):
        response = get(client, analyst, path, zone=city.zone, format=fmt, **span())
        assert response.status_code == 200, response.text
        got = read_table(fmt, response.content)
        assert got.schema.field("ts").type == pa.timestamp("us", tz="UTC")
        rows = got.to_pylist()
        assert sorted((r["ts"], r["device_id"], r["metric"], r["value"]) for r in rows) == want


def test_accept_header_picks_the_format(client: httpx.Client, analyst: str, city: City) -> None:
    response = client.get("/api/v1/datasets/air_quality/rows", params={"zone": city.zone, **span()},
                          headers={**bearer(analyst), "Accept": "application/vnd.apache.arrow.stream"})
    assert response.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert pa.ipc.open_stream(response.content).read_all().num_rows == len(city.readings())


def expected_buckets(city: City, width: timedelta, start: datetime, end: datetime,
                     by_device: bool) -> dict[tuple[object, ...], dict[str, float]]:
    groups: dict[tuple[object, ...], list[tuple[datetime, float]]] = {}
    for ts, device, metric, value in city.readings():
        if metric == "pm25" and start <= ts < end:
            b = ORIGIN + ((ts - ORIGIN) // width) * width
            key = (b, device) if by_device else (b,)
            groups.setdefault(key, []).append((ts, value))
    return {k: {"avg": round(sum(v for _, v in r) / len(r), 9), "min": min(v for _, v in r),
                "max": max(v for _, v in r), "sum": sum(v for _, v in r), "count": len(r),
                "last": max(r)[1]} for k, r in groups.items()}


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(seconds=30)], ids=["rollup", "raw"])
def test_buckets_from_rollup_and_raw_agree_with_the_readings(
    client: httpx.Client, analyst: str, city: City, offset: timedelta
) -> None:
    start, end = T0 + offset, T0 + timedelta(hours=1) + offset
    width = timedelta(minutes=15)
    aggs = "avg,min,max,sum,count,last"
    lines = jsonl(get(client, analyst, "/api/v1/datasets/air_quality/rows", zone=city.zone, metric="pm25",
                      bucket="15m", agg=aggs, **{"from": start.isoformat(), "to": end.isoformat()}))
    assert list(lines[0]) == ["ts", "device_id", "zone", "metric", *aggs.split(",")]
    got = {(datetime.fromisoformat(r["ts"]), r["device_id"]): {**{k: r[k] for k in aggs.split(",")},
                                                              "avg": round(r["avg"], 9)} for r in lines}
    assert got == expected_buckets(city, width, start, end, by_device=True)
    # Grouped by zone only: the two devices' readings pooled.
    pooled = jsonl(get(client, analyst, "/api/v1/datasets/air_quality/rows", zone=city.zone, metric="pm25",
                       bucket="15m", agg="avg,count", columns="zone",
                       **{"from": start.isoformat(), "to": end.isoformat()}))
    assert {(datetime.fromisoformat(r["ts"]),): (round(r["avg"], 9), r["count"]) for r in pooled} == {
        k: (v["avg"], v["count"]) for k, v in expected_buckets(city, width, start, end, False).items()}


def rows_of(response: httpx.Response, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return jsonl(response)
    assert response.status_code == 200, response.text
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()}
            for r in read_table(fmt, response.content).to_pylist()]


@pytest.mark.parametrize(("bucket", "fmt"), [(None, "jsonl"), ("1m", "jsonl"), (None, "arrow"),
                                             ("15m", "parquet")])
def test_pages_with_a_cursor_add_up_to_the_whole(
    client: httpx.Client, analyst: str, city: City, bucket: str | None, fmt: str
) -> None:
    params: dict[str, Any] = {"zone": city.zone, "format": fmt, **span(),
                              **({"bucket": bucket} if bucket else {})}
    path = "/api/v1/datasets/air_quality/rows"
    whole = rows_of(get(client, analyst, path, **params), fmt)
    pages: list[dict[str, Any]] = []
    after = None
    for _ in range(200):
        response = get(client, analyst, path, limit=5, **params, **({"after": after} if after else {}))
        page = rows_of(response, fmt)
        assert len(page) <= 5
        pages += page
        after = response.headers.get("x-next-cursor")
        if after is None:
            break
    key = json.dumps
    assert len(pages) == len(whole) > 5
    assert sorted(map(key, pages)) == sorted(map(key, whole))


def test_bad_parameters_are_refused_with_a_reason(client: httpx.Client, analyst: str, city: City) -> None:
    path = "/api/v1/datasets/air_quality/rows"
    month = {"from": (T0 - timedelta(days=40)).isoformat(), "to": T0.isoformat()}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"columns": "ts,secret", **span()}, "Unknown column"),
        ({"owner": "x", **span()}, "Unknown filter"),
        ({"bucket": "7m", **span()}, "bucket"),
        ({"bucket": "1h", "agg": "median", **span()}, "agg"),
        ({"agg": "avg", **span()}, "agg needs a bucket"),
        ({"from": T0.isoformat(), "to": T0.isoformat()}, "earlier"),
        (month, "too large"),
        ({**month, "format": "csv"}, "too large"),
        ({"format": "xml", **span()}, "format"),
        ({"limit": "0", **span()}, "limit"),
        ({"after": "bm90LWEtY3Vyc29y", **span()}, "cursor"),
        ({"from": "yesterday", **span()} | {"from": "yesterday"}, "from"),
    ]
    for params, reason in cases:
        response = get(client, analyst, path, **params)
        assert response.status_code == 400, (params, response.text)
        assert reason in response.json()["detail"], (params, response.json())
    assert get(client, analyst, "/api/v1/datasets/devices/rows", bucket="1h").status_code == 400
    # Arrow and Parquet have no bound on the range of raw rows.
    assert get(client, analyst, path, format="parquet", zone=city.zone, **month).status_code == 200


def test_devices_and_cctv_counts_carry_no_credentials_or_identifiers(
    client: httpx.Client, analyst: str, database_url: str, catalogue: Catalogue
) -> None:
    zone = f"zc-{secrets.token_hex(3)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        camera = new_device(conn, catalogue, "cctv", zone=zone)
        meter = new_device(conn, catalogue, "smart_meter", zone=zone)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO hub.events (ts, device_id, type, severity, subject, attributes) "
                "VALUES (%s, %s, %s, 'critical', 'pseudo-subject-1', '{\"track_id\": \"trk-1\"}')",
                [(T0 + timedelta(minutes=m), camera, t) for m, t in
                 [(1, "fire"), (2, "fire"), (3, "smoke"), (70, "fire")]])
    devices = jsonl(get(client, analyst, "/api/v1/datasets/devices/rows", zone=zone))
    assert [d["device_id"] for d in devices] == [camera]  # the household meter is left out
    assert meter not in json.dumps(devices)
    assert set(devices[0]) == {"device_id", "kind", "zone", "lat", "lon", "status", "online",
                               "registered_at", "last_seen"}
    counts = jsonl(get(client, analyst, "/api/v1/datasets/cctv_event_counts/rows", zone=zone))
    hour0, hour1 = (h.isoformat().replace("+00:00", "Z") for h in (T0, T0 + timedelta(hours=1)))
    assert sorted((r["hour"], r["type"], r["count"]) for r in counts) == sorted([
        (hour0, "fire", 2), (hour0, "smoke", 1), (hour1, "fire", 1)])
    text = json.dumps(counts)
    assert camera not in text
    assert "pseudo-subject" not in text
    assert "trk-1" not in text
