"""Rules managed from the CLI while the service runs, and the backtest agreeing with it."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.catalogue import Catalogue
from tests.analytics.test_service import store_reading
from tests.fix_analytics import AnalyticsProcess
from tests.helpers import Conn, child_env, new_device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def cityhub(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env(CITYHUB_DATABASE_URL=database_url)
    return subprocess.run([sys.executable, "-m", "hub", "analytics", "rules", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def humidity_rule(rule_id: str, warning: float = 70.0) -> dict[str, Any]:
    # Humidity: no built-in rule reads it, so only this rule raises on these readings.
    return {"id": rule_id, "kind": "threshold", "title": "Humid", "alert_type": "air_quality",
            "metric": "humidity", "device_kind": "air_quality", "window_s": 300,
            "levels": [{"name": "humid", "severity": "warning", "above": warning, "for_s": 120,
                        "clear_below": 60, "clear_for_s": 120},
                       {"name": "soaked", "severity": "critical", "above": 90}]}


@pytest.fixture
def disable_after(database_url: str) -> Iterator[list[str]]:
    """Rules a test adds, disabled after it: the run's database is shared, and a humidity rule
    left enabled would raise alerts on other tests' stations."""
    ids: list[str] = []
    yield ids
    for rule_id in ids:
        cityhub(database_url, "disable", rule_id)


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_add_edit_disable_and_show_from_the_cli(database_url: str, tmp_path: Path) -> None:
    rule_id = f"humid-{secrets.token_hex(3)}"
    added = cityhub(database_url, "add", str(write(tmp_path / "r.yaml", humidity_rule(rule_id))))
    assert added.returncode == 0, added.stderr
    bad = humidity_rule(rule_id)
    bad["levels"][0]["clear_below"] = 95
    refused = cityhub(database_url, "edit", rule_id, str(write(tmp_path / "bad.yaml", bad)))
    assert refused.returncode == 1
    assert "levels.0.clear_below: must not be above the raising level" in refused.stderr
    less = write(tmp_path / "r2.yaml", humidity_rule(rule_id, 75))
    edited = cityhub(database_url, "edit", rule_id, str(less), "--note", "fewer alerts")
    assert edited.returncode == 0
    assert "version 2" in edited.stdout
    assert cityhub(database_url, "disable", rule_id).returncode == 0
    shown = json.loads(cityhub(database_url, "show", rule_id, "--json").stdout)
    assert (shown["version"], shown["enabled"], shown["rule"]["levels"][0]["above"]) == (3, False, 75.0)
    assert [(v["version"], v["enabled"], v["note"]) for v in shown["versions"]] == [
        (1, True, None), (2, True, "fewer alerts"), (3, False, "disabled")]
    listed = [json.loads(line) for line in cityhub(database_url, "--json").stdout.splitlines()]
    assert {r["id"] for r in listed} >= {rule_id, "pm25-fine-dust", "cctv-fire"}
    unknown = cityhub(database_url, "add", str(write(tmp_path / "u.yaml", {**humidity_rule("x-1"),
                                                                            "agency": "nasa"})))
    assert "agency: there is no agency 'nasa'" in unknown.stderr


# Humidity every 30 s: humid for a while, dry again, then soaked (a 5-minute mean of 90+).
PATTERN = [50.0] * 10 + [80.0] * 14 + [40.0] * 16 + [100.0] * 12


def test_the_live_service_and_the_backtest_raise_the_same_alerts(
    db: Conn, catalogue: Catalogue, database_url: str, tmp_path: Path, analytics: AnalyticsProcess,
    disable_after: list[str],
) -> None:
    rule_id = f"agree-{secrets.token_hex(3)}"
    disable_after.append(rule_id)
    added = cityhub(database_url, "add", str(write(tmp_path / "r.yaml", humidity_rule(rule_id))))
    assert added.returncode == 0, added.stderr
    station = new_device(db, catalogue, "air_quality")
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    for n, value in enumerate(PATTERN):
        store_reading(db, station, start + timedelta(seconds=30 * n), "humidity", value)
    end = start + timedelta(seconds=30 * len(PATTERN))

    result = cityhub(database_url, "backtest", rule_id, "--from", start.isoformat(), "--to", end.isoformat(),
                     "--json")
    assert result.returncode == 0, result.stderr
    expected = [(e["severity"], datetime.fromisoformat(e["first_seen"]),
                 datetime.fromisoformat(e["last_seen"]), e["count"], "resolved" if e["lifted_at"] else "open")
                for e in map(json.loads, result.stdout.splitlines()) if e["device_id"] == station]
    # Humid raised, lifted; soaked raised and still raised.
    assert [(e[0], e[4]) for e in expected] == [("warning", "resolved"), ("critical", "open")]

    def live() -> list[tuple[object, ...]]:
        return db.execute("SELECT severity, first_seen, last_seen, count, state FROM hub.alerts "
                          "WHERE device_id = %s AND rule_id = %s ORDER BY first_seen",
                          (station, rule_id)).fetchall()

    wait_for(lambda: live() == expected, what=f"the live alerts to match the backtest {expected}")
    outcome = db.execute("SELECT outcome, resolved_by FROM hub.alerts WHERE device_id = %s AND state = "
                         "'resolved'", (station,)).fetchone()
    assert outcome == ("cleared", "analytics")


def test_an_edit_applies_at_once_and_new_alerts_record_the_new_version(
    db: Conn, catalogue: Catalogue, database_url: str, tmp_path: Path, analytics: AnalyticsProcess,
    disable_after: list[str],
) -> None:
    rule_id = f"now-{secrets.token_hex(3)}"
    disable_after.append(rule_id)
    doc = humidity_rule(rule_id) | {"window_s": 0}
    doc["levels"] = [{"severity": "warning", "above": 70}]
    assert cityhub(database_url, "add", str(write(tmp_path / "v1.yaml", doc))).returncode == 0
    first, second = (new_device(db, catalogue, "air_quality") for _ in range(2))
    store_reading(db, first, datetime.now(UTC), "humidity", 75.0)

    def version_of(station: str) -> tuple[object, ...] | None:
        return db.execute("SELECT rule_version, severity FROM hub.alerts WHERE device_id = %s "
                          "AND rule_id = %s", (station, rule_id)).fetchone()

    assert wait_for(lambda: version_of(first), what="the first alert") == (1, "warning")
    doc["levels"] = [{"severity": "critical", "above": 70}]
    assert cityhub(database_url, "edit", rule_id, str(write(tmp_path / "v2.yaml", doc))).returncode == 0
    # No waiting for a periodic reload: the service heard of the edit.
    store_reading(db, second, datetime.now(UTC), "humidity", 75.0)
    assert wait_for(lambda: version_of(second), what="the second alert") == (2, "critical")
