"""/api/v1/events: filters by device, zone, type, severity and time; paging; errors."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from psycopg.types.json import Jsonb

from hub.catalogue import Catalogue
from tests.helpers import Conn, new_device
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration


def test_filters_and_paging(client: httpx.Client, token_for: Callable[[str], str], db: Conn,
                            catalogue: Catalogue) -> None:
    zone = f"zone-{secrets.token_hex(3)}"
    cam = new_device(db, catalogue, "cctv", zone=zone)
    other = new_device(db, catalogue, "cctv", zone="elsewhere")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    rows = [(t0 + timedelta(minutes=i), cam, "crowd" if i % 2 else "fall", "warning" if i % 2 else "critical")
            for i in range(6)] + [(t0, other, "crowd", "warning")]
    for ts, dev, kind, severity in rows:
        db.execute("INSERT INTO hub.events (ts, device_id, type, severity, confidence, attributes) "
                   "VALUES (%s, %s, %s, %s, 0.9, %s)", (ts, dev, kind, severity, Jsonb({"n": 1})))
    headers = bearer(token_for("operator"))

    def get(**params: str) -> dict[str, object]:
        response = client.get("/api/v1/events", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    def items(**params: str) -> list[dict[str, object]]:
        found = get(**params)["items"]
        assert isinstance(found, list)
        return found

    in_zone = items(zone=zone)
    assert len(in_zone) == 6
    stamps = [str(e["ts"]) for e in in_zone]
    assert stamps == sorted(stamps, reverse=True)
    assert {e["zone"] for e in in_zone} == {zone}
    assert len(items(device=cam, type="fall")) == 3
    assert len(items(device=cam, severity="warning")) == 3
    assert len(items(device=other)) == 1
    window = items(device=cam, **{"from": (t0 + timedelta(minutes=2)).isoformat(),
                                  "to": (t0 + timedelta(minutes=4)).isoformat()})
    assert len(window) == 2

    seen: list[object] = []
    params = {"zone": zone, "limit": "4"}
    while True:
        page = get(**params)
        page_items = page["items"]
        assert isinstance(page_items, list)
        seen += [str(e["ts"]) for e in page_items]
        if not page["has_more"]:
            break
        params["cursor"] = str(page["next_cursor"])
    assert seen == stamps


def test_bad_requests(client: httpx.Client, token_for: Callable[[str], str]) -> None:
    headers = bearer(token_for("supervisor"))
    assert client.get("/api/v1/events", params={"device": "nope-404"}, headers=headers).status_code == 404
    bad_range = client.get("/api/v1/events", params={"from": "2026-01-02T00:00Z", "to": "2026-01-01T00:00Z"},
                           headers=headers)
    assert bad_range.status_code == 400
    assert "earlier than" in bad_range.json()["detail"]
    assert client.get("/api/v1/events", params={"to": "not-a-time"}, headers=headers).status_code == 400
    assert client.get("/api/v1/events", params={"limit": "100000"}, headers=headers).status_code == 422
