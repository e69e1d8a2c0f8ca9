"""/api/v1/devices: filters, connection state, paging, detail with latest readings, bad input."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hub.catalogue import Catalogue
from tests.helpers import Conn, new_device
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration


def test_filter_by_kind_zone_status_and_connection(
    client: httpx.Client, token_for: Callable[[str], str], db: Conn, catalogue: Catalogue
) -> None:
    zone = f"zone-{secrets.token_hex(3)}"
    online = new_device(db, catalogue, "air_quality", zone=zone)
    offline = new_device(db, catalogue, "air_quality", zone=zone)
    meter = new_device(db, catalogue, "smart_meter", zone=zone)
    db.execute("UPDATE hub.devices SET online = true, last_seen = now() WHERE id = %s", (online,))
    db.execute("UPDATE hub.devices SET online = false WHERE id = %s", (offline,))
    db.execute("UPDATE hub.devices SET status = 'revoked', revoked_at = now() WHERE id = %s", (meter,))
    headers = bearer(token_for("operator"))

    def ids(**params: str) -> list[str]:
        response = client.get("/api/v1/devices", params={"zone": zone, **params}, headers=headers)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["items"]]

    assert ids() == sorted([online, offline, meter])
    assert ids(kind="air_quality") == sorted([online, offline])
    assert ids(status="revoked") == [meter]
    assert ids(connection="online") == [online]
    assert ids(connection="offline") == [offline]
    assert ids(connection="never") == [meter]


def test_paging_walks_every_device_once(
    client: httpx.Client, token_for: Callable[[str], str], db: Conn, catalogue: Catalogue
) -> None:
    zone = f"zone-{secrets.token_hex(3)}"
    made = sorted(new_device(db, catalogue, "cctv", zone=zone) for _ in range(5))
    headers = bearer(token_for("supervisor"))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"zone": zone, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/devices", params=params, headers=headers).json()
        seen += [d["id"] for d in page["items"]]
        pages += 1
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == made
    assert pages == 3


def test_detail_shows_the_latest_reading_of_each_metric(
    client: httpx.Client, token_for: Callable[[str], str], db: Conn, catalogue: Catalogue
) -> None:
    device = new_device(db, catalogue, "air_quality", zone="jung-gu", lat=37.56, lon=126.97)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    for i, (metric, value) in enumerate([("pm10", 10.0), ("pm10", 42.0), ("pm25", 7.5)]):
        db.execute("INSERT INTO hub.telemetry VALUES (%s, %s, %s, %s)",
                   (t0 + timedelta(minutes=i), device, metric, value))
    response = client.get(f"/api/v1/devices/{device}", headers=bearer(token_for("admin")))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["zone"] == "jung-gu"
    assert body["lat"] == 37.56
    assert body["connection"] == "never"
    assert {r["metric"]: r["value"] for r in body["latest"]} == {"pm10": 42.0, "pm25": 7.5}


def test_unknown_device_and_bad_parameters_are_clear_4xx(
    client: httpx.Client, token_for: Callable[[str], str]
) -> None:
    headers = bearer(token_for("operator"))
    missing = client.get("/api/v1/devices/no-such-device", headers=headers)
    assert missing.status_code == 404
    assert "no-such-device" in missing.json()["detail"]
    for params in ({"status": "zombie"}, {"connection": "maybe"}, {"limit": "0"}, {"limit": "many"}):
        bad = client.get("/api/v1/devices", params=params, headers=headers)
        assert bad.status_code == 422, params
        assert bad.json()["detail"]
    cursor = client.get("/api/v1/devices", params={"cursor": "bm90LWpzb24"}, headers=headers)
    assert cursor.status_code == 400
    assert "cursor" in cursor.json()["detail"]
