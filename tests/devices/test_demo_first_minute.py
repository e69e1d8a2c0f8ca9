"""The first minute of `cityhub up`, end to end: the demo's fleet and scenario through the
simulator, the broker, ingest and analytics leave an alert in the hub.

The run is accelerated (a past --start, speed 8), so the first simulated minute takes
seconds of wall time; what is asserted is in simulated time (the alert's first_seen).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.cli.up import DEMO_DEVICES
from tests.fix_analytics import AnalyticsProcess
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, child_env
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def test_an_alert_is_raised_within_the_first_simulated_minute_of_the_demo(
    db: Conn, database_url: str, broker: Broker, ingest: IngestProcess, analytics: AnalyticsProcess,
    tmp_path: Path,
) -> None:
    # The demo's 40 devices under ids of their own, so other tests' alerts do not count.
    tag = secrets.token_hex(3)
    devices = [{"id": f"{d[0]}-{tag}", "kind": d[1], "zone": d[2], "lat": d[3], "lon": d[4]}
               for d in DEMO_DEVICES]
    devices_file = tmp_path / "demo-devices.json"
    devices_file.write_text(json.dumps(devices), encoding="utf-8")
    start = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
    env = child_env(CITYHUB_DATABASE_URL=database_url, CITYHUB_STATE_DIR=str(tmp_path))
    command = [sys.executable, "-m", "hub", "simulate", "--mqtt-url", broker.url,
               "--devices-file", str(devices_file), "--scenario", "demo", "--register",
               "--start", start.isoformat(), "--speed", "8", "--rate", "40", "--duration", "10",
               "--ground-truth", str(tmp_path / "truth.jsonl")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-3000:]

    ids = [d["id"] for d in devices]

    def first_minute_alerts() -> list[tuple[object, ...]]:
        return db.execute(
            "SELECT rule_id, severity, device_id FROM hub.alerts WHERE device_id = ANY(%s) "
            "AND first_seen < %s AND severity IN ('warning', 'critical') ORDER BY first_seen",
            (ids, start + timedelta(minutes=1))).fetchall()

    # Both kinds of alert a newcomer sees first: a camera's event and a threshold rule.
    wait_for(lambda: any(str(row[0]).startswith("event:") for row in first_minute_alerts()),
             timeout=60, what="a camera event's alert from the demo's first simulated minute")
    wait_for(lambda: any(not str(row[0]).startswith("event:") for row in first_minute_alerts()),
             timeout=60, what="a threshold alert from the demo's first simulated minute")
