"""/api/v1/rules as a supervisor manages rules: list, read, add, edit, disable; refusals."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.catalogue import Catalogue
from tests.helpers import Conn, new_device
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration
Tokens = Callable[[str], str]


def rule(rule_id: str, above: float = 0.2) -> dict[str, Any]:
    return {"id": rule_id, "kind": "threshold", "title": "NO2 high", "alert_type": "air_quality",
            "metric": "no2", "device_kind": "air_quality", "window_s": 3600,
            "levels": [{"severity": "warning", "above": above, "for_s": 0}]}


def test_a_supervisor_adds_edits_and_disables_a_rule(client: httpx.Client, token_for: Tokens) -> None:
    sup = bearer(token_for("supervisor"))
    rid = f"no2-{secrets.token_hex(3)}"
    created = client.post("/api/v1/rules", headers=sup, json={"rule": rule(rid), "note": "trial"})
    assert created.status_code == 201, created.text
    assert (created.json()["version"], created.json()["enabled"]) == (1, True)
    edited = client.put(f"/api/v1/rules/{rid}", headers=sup, json={"rule": rule(rid, 0.25)})
    assert edited.status_code == 200, edited.text
    assert edited.json()["rule"]["levels"][0]["above"] == 0.25
    disabled = client.post(f"/api/v1/rules/{rid}/disable", headers=sup)
    assert (disabled.json()["version"], disabled.json()["enabled"]) == (3, False)
    one = client.get(f"/api/v1/rules/{rid}", headers=bearer(token_for("operator"))).json()
    assert [(v["version"], v["enabled"], v["rule"]["levels"][0]["above"]) for v in one["versions"]] == [
        (1, True, 0.2), (2, True, 0.25), (3, False, 0.25)]
    listed = client.get("/api/v1/rules", headers=sup).json()["rules"]
    assert {r["id"] for r in listed} >= {rid, "pm25-fine-dust", "cctv-fire"}
    assert client.post("/api/v1/rules", headers=sup, json={"rule": rule(rid)}).status_code == 409


@pytest.mark.parametrize(("change", "field"), [
    ({"levels": [{"severity": "severe", "above": 1}]}, "levels.0.severity"),
    ({"metric": "pm1"}, "metric"),
    ({"device_kind": "toaster"}, "device_kind"),
    ({"kind": "average"}, "kind"),
])
def test_a_rule_with_an_error_is_refused_with_the_field(client: httpx.Client, token_for: Tokens,
                                                        change: dict[str, Any], field: str) -> None:
    rid = f"bad-{secrets.token_hex(3)}"
    admin = bearer(token_for("admin"))
    answer = client.post("/api/v1/rules", headers=admin, json={"rule": {**rule(rid), **change}})
    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert answer.json()["detail"].startswith(f"{field}: ")
    assert client.get(f"/api/v1/rules/{rid}", headers=admin).status_code == 404


@pytest.mark.parametrize("role", ["operator", "analyst", "vendor"])
def test_only_supervisors_and_admins_change_rules(client: httpx.Client, token_for: Tokens, role: str) -> None:
    answer = client.post("/api/v1/rules/pm25-fine-dust/disable", headers=bearer(token_for(role)))
    assert answer.status_code == 403


def test_the_map_gets_each_stations_cai_category(client: httpx.Client, token_for: Tokens, db: Conn,
                                                 catalogue: Catalogue) -> None:
    station = new_device(db, catalogue, "air_quality")
    now = datetime.now(UTC)
    # Hourly means: PM10 65 (moderate), PM2.5 40 (bad): the station is "bad".
    for minutes_ago, metric, value in ((20, "pm10", 60.0), (10, "pm10", 70.0), (10, "pm25", 40.0),
                                       (90, "pm25", 200.0)):
        db.execute("INSERT INTO hub.telemetry (ts, device_id, metric, value) VALUES (%s, %s, %s, %s)",
                   (now - timedelta(minutes=minutes_ago), station, metric, value))
    stations = client.get("/api/v1/rules/cai", headers=bearer(token_for("operator"))).json()["stations"]
    assert stations[station] == {"category": "bad", "pm10": 65.0, "pm25": 40.0}
