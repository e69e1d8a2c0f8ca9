"""/api/v1/telemetry: buckets (avg/min/max/last/count) against inserted readings; paging; errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.catalogue import Catalogue
from tests.helpers import new_device
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration

# An hour-aligned start two hours ago, so 1-minute-aligned ranges use the rollup.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


@pytest.fixture(scope="module")
def device(database_url: str, catalogue: Catalogue) -> str:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        device_id = new_device(conn, catalogue, "air_quality")
        # pm10 every 20 s for 30 minutes: value = index; pm25 constant 5.
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO hub.telemetry VALUES (%s, %s, %s, %s)",
                            [(T0 + timedelta(seconds=20 * i), device_id, "pm10", float(i)) for i in range(90)]
                            + [(T0 + timedelta(minutes=i), device_id, "pm25", 5.0) for i in range(30)])
    return device_id


def expected(width: timedelta, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The pm10 buckets computed in Python from the same readings."""
    buckets: dict[datetime, list[tuple[datetime, float]]] = {}
    for i in range(90):
        ts = T0 + timedelta(seconds=20 * i)
        if start <= ts < end:
            origin = datetime(2000, 1, 1, tzinfo=UTC)
            b = origin + ((ts - origin) // width) * width
            buckets.setdefault(b, []).append((ts, float(i)))
    return [{"ts": b, "avg": round(sum(v for _, v in r) / len(r), 9), "min": min(v for _, v in r),
             "max": max(v for _, v in r), "last": max(r)[1], "count": len(r)}
            for b, r in sorted(buckets.items())]


def fetch(client: httpx.Client, token: str, device: str, **params: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/telemetry/{device}", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def points(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"ts": datetime.fromisoformat(p["ts"]), "avg": round(p["avg"], 9),
             **{k: p[k] for k in ("min", "max", "last", "count")}} for p in body["points"]]


@pytest.mark.parametrize(("bucket", "width", "source"), [("5m", timedelta(minutes=5), "rollup_1m"),
                                                     ("1h", timedelta(hours=1), "rollup_1h")])
def test_buckets_from_the_rollups_match_the_readings(
    client: httpx.Client, token_for: Callable[[str], str], device: str, bucket: str, width: timedelta,
    source: str
) -> None:
    start, end = T0, T0 + timedelta(hours=1)
    body = fetch(client, token_for("operator"), device, metric="pm10", bucket=bucket,
                 **{"from": start.isoformat(), "to": end.isoformat()})
    assert body["source"] == source
    assert points(body) == (expected(width, start, end))
    assert not body["has_more"]


def test_odd_buckets_and_unaligned_ranges_use_the_raw_readings(
    client: httpx.Client, token_for: Callable[[str], str], device: str
) -> None:
    start, end = T0 + timedelta(seconds=50), T0 + timedelta(minutes=7, seconds=10)
    body = fetch(client, token_for("operator"), device, metric="pm10", bucket="90s",
                 **{"from": start.isoformat(), "to": end.isoformat()})
    assert body["source"] == "raw"
    assert points(body) == (expected(timedelta(seconds=90), start, end))


def test_paging_returns_every_bucket_once_and_says_when_there_is_more(
    client: httpx.Client, token_for: Callable[[str], str], device: str
) -> None:
    token = token_for("supervisor")
    span = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    whole = fetch(client, token, device, bucket="1m", **span)["points"]
    assert len(whole) == 60  # 30 minutes of pm10 and of pm25
    got: list[dict[str, Any]] = []
    params = {"bucket": "1m", "limit": "7", **span}
    while True:
        page = fetch(client, token, device, **params)
        got += page["points"]
        if not page["has_more"]:
            break
        assert len(page["points"]) == 7
        params["cursor"] = page["next_cursor"]
    assert got == whole


def test_raw_readings_page_too(client: httpx.Client, token_for: Callable[[str], str], device: str) -> None:
    token = token_for("operator")
    span = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat(), "metric": "pm10"}
    first = fetch(client, token, device, limit="50", **span)
    assert first["has_more"]
    second = fetch(client, token, device, limit="50", cursor=first["next_cursor"], **span)
    assert not second["has_more"]
    values = [p["value"] for p in first["points"] + second["points"]]
    assert values == [float(i) for i in range(90)]


def test_bad_requests_get_a_reason(client: httpx.Client, token_for: Callable[[str], str],
                                   device: str) -> None:
    headers = bearer(token_for("operator"))
    unknown = client.get("/api/v1/telemetry/no-such-device", headers=headers)
    assert unknown.status_code == 404
    cases = [
        ({"from": "yesterday"}, "from"),
        ({"from": T0.isoformat(), "to": (T0 - timedelta(hours=1)).isoformat()}, "earlier than"),
        ({"bucket": "5 parsecs"}, "bucket"),
        ({"bucket": "0s"}, "bucket"),
        ({"cursor": "!!"}, "cursor"),
    ]
    for params, reason in cases:
        response = client.get(f"/api/v1/telemetry/{device}", params=params, headers=headers)
        assert response.status_code == 400, params
        assert reason in response.json()["detail"]
    negative = client.get(f"/api/v1/telemetry/{device}", params={"limit": "-1"}, headers=headers)
    assert negative.status_code == 422
