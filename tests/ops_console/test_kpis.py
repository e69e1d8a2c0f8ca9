"""/api/v1/kpis and the live board count devices online by the rule of the device list."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from hub.catalogue import Catalogue
from hub.device_status import SILENCE_FACTOR, Connection
from hub.registry import device_states
from ops_console.alert_reports import device_connections
from ops_console.live.sources import kpi_values
from tests.helpers import new_device
from tests.ops_console.alert_helpers import device_with_alert, unique_zone
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration


def test_a_silent_device_flagged_online_counts_as_offline(
    client: httpx.Client, token_for: Callable[[str], str], database_url: str, catalogue: Catalogue
) -> None:
    zone = unique_zone()
    interval = catalogue.kind("air_quality").interval_s
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        talking, silent, gone = (new_device(conn, catalogue, "air_quality", zone=zone) for _ in range(3))
        for device, online, last_seen in (
            (talking, True, now - timedelta(seconds=interval)),
            (silent, True, now - timedelta(seconds=(SILENCE_FACTOR + 1) * interval)),
            (gone, False, now),
        ):
            conn.execute("UPDATE hub.devices SET online = %s, last_seen = %s WHERE id = %s",
                         (online, last_seen, device))
    headers = bearer(token_for("supervisor"))
    body = client.get("/api/v1/kpis", params={"zone": zone}, headers=headers).json()
    assert (body["devices_total"], body["devices_online"], body["devices_online_pct"]) == (3, 1, 33.3)
    listed = client.get("/api/v1/devices", params={"zone": zone}, headers=headers).json()["items"]
    states = {d["id"]: d["connection"] for d in listed}
    assert states == {talking: "online", silent: "offline", gone: "offline"}
    handover = client.get("/api/v1/handover", params={"zone": zone}, headers=headers).json()
    assert handover["kpis"]["devices_online"] == 1



def test_counting_in_the_database_follows_the_device_list_rule(
    database_url: str, catalogue: Catalogue
) -> None:
    """The KPI count (SQL in hub.device_status) and the device list (connection_state) agree."""
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    limit = timedelta(seconds=SILENCE_FACTOR * catalogue.kind("air_quality").interval_s)
    meter_limit = timedelta(seconds=SILENCE_FACTOR * catalogue.kind("smart_meter").interval_s)
    second, tick = timedelta(seconds=1), timedelta(microseconds=1)
    # (online flag, time since the last message, kind): each branch of the rule, and both
    # sides of the silence limit of kinds with different intervals.
    cases: list[tuple[bool | None, timedelta | None, str]] = [
        (None, None, "air_quality"), (True, None, "air_quality"), (False, None, "air_quality"),
        (None, 10 * second, "air_quality"), (False, 10 * second, "air_quality"),
        (True, limit, "air_quality"), (True, limit + tick, "air_quality"),
        (None, limit + tick, "air_quality"),
        (True, meter_limit - second, "smart_meter"), (True, meter_limit + second, "smart_meter"),
    ]
    zones = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for online, seen_ago, kind in cases:
            zone = unique_zone()
            device = new_device(conn, catalogue, kind, zone=zone)
            conn.execute("UPDATE hub.devices SET online = %s, last_seen = %s WHERE id = %s",
                         (online, None if seen_ago is None else now - seen_ago, device))
            zones.append(zone)
        listed = [device_states(conn, zone=zone, now=now)[0].connection for zone in zones]

    async def counted() -> list[dict[Connection, int]]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return [await device_connections(conn, zone=zone, now=now) for zone in zones]

    counts = asyncio.run(counted())
    assert all(sum(c.values()) == 1 for c in counts)
    assert [next(state for state, n in c.items() if n) for c in counts] == listed
    assert set(listed) == {"online", "offline", "never"}
    assert listed[5:7] == ["online", "offline"]  # exactly at the silence limit, then just past it


def test_the_live_board_counts_as_the_kpi_endpoint(
    client: httpx.Client, token_for: Callable[[str], str], database_url: str, catalogue: Catalogue
) -> None:
    headers = bearer(token_for("operator"))

    async def live() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await kpi_values(conn)

    before = asyncio.run(live())
    device_with_alert(database_url, catalogue, severity="critical")
    _, seen = device_with_alert(database_url, catalogue, severity="warning")
    assert client.post(f"/api/v1/alerts/{seen.id}/acknowledge", headers=headers).status_code == 200
    after = asyncio.run(live())
    body = client.get("/api/v1/kpis", headers=headers).json()
    assert after["open_alerts"] == body["open_by_severity"]
    assert [after[k] for k in ("devices_total", "devices_online")] == [
        body[k] for k in ("devices_total", "devices_online")]
    assert after["devices_offline"] == after["devices_total"] - after["devices_online"]
    # Both alerts are live; only the one nobody acknowledged counts as unacknowledged.
    assert after["open_alerts"]["critical"] == before["open_alerts"]["critical"] + 1
    assert after["open_alerts"]["warning"] == before["open_alerts"]["warning"] + 1
    assert after["unacknowledged"] == before["unacknowledged"] + 1
