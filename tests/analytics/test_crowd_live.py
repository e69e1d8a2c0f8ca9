"""Zone areas from the command line, and a crowd raised by the running service (real PostgreSQL)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from hub.catalogue import Catalogue
from hub.zones import set_zone
from tests.analytics.test_service import store_reading
from tests.fix_analytics import AnalyticsProcess
from tests.helpers import Conn, child_env, new_device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def device_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env(CITYHUB_DATABASE_URL=database_url)
    return subprocess.run([sys.executable, "-m", "hub", "device", "zone", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_zone_area_is_set_listed_and_a_wrong_one_refused_with_the_reason(database_url: str) -> None:
    zone = f"plaza-{secrets.token_hex(3)}"
    refused = device_cli(database_url, "set", zone, "--area-m2", "0")
    assert refused.returncode == 1
    assert "--area-m2 must be more than 0" in refused.stdout + refused.stderr
    named = device_cli(database_url, "set", zone, "--area-m2", "500", "--name-ko", "서울역 광장")
    assert named.returncode == 0, named.stderr
    listed = device_cli(database_url, "list", "--json")
    zones = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {"zone": zone, "area_m2": 500.0, "name_ko": "서울역 광장", "name_en": None} in zones


def test_a_dense_crowd_on_a_zones_cameras_raises_the_crowd_alert_for_the_police(
    db: Conn, catalogue: Catalogue, analytics: AnalyticsProcess,
) -> None:
    zone = f"exit-{secrets.token_hex(3)}"
    cameras = [new_device(db, catalogue, "cctv", zone=zone) for _ in range(2)]
    set_zone(db, zone, 100.0)  # as `cityhub device zone set ZONE --area-m2 100` does
    # The service reads the areas with the rules: make it reload them now.
    db.execute("SELECT pg_notify('hub_rules', 'areas')")
    now = datetime.now(UTC)
    # 260 + 260 persons on 100 m²: 5.2 persons/m², held for a minute.
    for ts in (now - timedelta(seconds=60), now):
        for camera in cameras:
            store_reading(db, camera, ts, "person_count", 260.0)

    def alert() -> tuple[object, ...] | None:
        return db.execute("SELECT severity, value, alert_type, suggested_agency, related_devices "
                          "FROM hub.alerts "
                          "WHERE zone = %s AND rule_id = 'crowd-density'", (zone,)).fetchone()

    found = wait_for(alert, what="the crowd-density alert")
    assert found == ("critical", 5.2, "crowd", "police-112", [max(cameras)])
