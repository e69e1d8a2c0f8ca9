"""/api/v1/kpis counts devices online by the same rule as the device list: silence means offline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from hub.catalogue import Catalogue
from hub.device_status import SILENCE_FACTOR
from tests.helpers import new_device
from tests.ops_console.alert_helpers import unique_zone
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
