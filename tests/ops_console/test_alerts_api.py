"""The alert endpoints as operators use them: list, detail, actions, SOP, KPIs, handover."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from analytics import raising
from analytics.engine import Raised
from hub.alerts import Occurrence
from hub.catalogue import Catalogue
from ops_console.testing import Accounts
from tests.helpers import count, new_device
from tests.ops_console.alert_helpers import device_with_alert, raise_alert, unique_zone
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration
Tokens = Callable[[str], str]


@pytest.fixture
def op(token_for: Tokens) -> dict[str, str]:
    return bearer(token_for("operator"))


def post(client: httpx.Client, path: str, headers: dict[str, str], body: object = None) -> httpx.Response:
    return client.post(f"/api/v1/alerts{path}", headers=headers, json=body)


def test_list_filters_and_pages(client: httpx.Client, op: dict[str, str], database_url: str,
                                catalogue: Catalogue) -> None:
    zone = unique_zone()
    device_with_alert(database_url, catalogue, zone=zone, severity="warning")
    device_with_alert(database_url, catalogue, zone=zone, severity="critical")
    page = client.get("/api/v1/alerts", params={"zone": zone}, headers=op).json()
    assert page["total"] == 2
    assert {a["severity"] for a in page["items"]} == {"warning", "critical"}
    critical = client.get("/api/v1/alerts", params={"zone": zone, "severity": "critical"}, headers=op).json()
    assert [a["severity"] for a in critical["items"]] == ["critical"]
    live = client.get("/api/v1/alerts", params={"zone": zone, "state": "live"}, headers=op).json()
    assert live["total"] == 2
    closed = client.get("/api/v1/alerts", params={"zone": zone, "state": "resolved,closed"}, headers=op)
    assert closed.json()["total"] == 0
    first = client.get("/api/v1/alerts", params={"zone": zone, "limit": 1}, headers=op).json()
    second = client.get("/api/v1/alerts", params={"zone": zone, "limit": 1, "offset": 1}, headers=op).json()
    assert first["items"][0]["id"] != second["items"][0]["id"]


@pytest.mark.parametrize(("params", "status", "word"), [
    ({"state": "finished"}, 400, "finished"),
    ({"severity": "urgent"}, 400, "urgent"),
    ({"from": "last tuesday"}, 400, "from"),
    ({"limit": "0"}, 422, "limit"),
])
def test_bad_list_parameters_are_4xx_with_a_reason(client: httpx.Client, op: dict[str, str],
                                                    params: dict[str, str], status: int, word: str) -> None:
    response = client.get("/api/v1/alerts", params=params, headers=op)
    assert response.status_code == status
    assert word in json.dumps(response.json()["detail"])


def test_detail_has_timeline_sop_and_location(client: httpx.Client, op: dict[str, str], database_url: str,
                                              catalogue: Catalogue) -> None:
    device, alert = device_with_alert(database_url, catalogue)
    body = client.get(f"/api/v1/alerts/{alert.id}", headers=op).json()
    assert body["device_id"] == device
    assert body["state"] == "open"
    assert [c["action"] for c in body["timeline"]] == ["raised"]
    assert body["timeline"][0]["seq"] == body["last_seq"]
    assert [i["item_no"] for i in body["sop"]] == [1, 2, 3, 4]
    assert body["deliveries"] == []
    assert body["delivery"] is None


def test_full_lifecycle_is_on_the_timeline_and_in_the_audit_log(
    client: httpx.Client, op: dict[str, str], token_for: Tokens, accounts: Accounts, database_url: str,
    catalogue: Catalogue,
) -> None:
    _, alert = device_with_alert(database_url, catalogue)
    operator_name = accounts.user_for("operator")[0]
    supervisor_name = accounts.user_for("supervisor")[0]
    acked = post(client, f"/{alert.id}/acknowledge", op)
    assert acked.status_code == 200, acked.text
    assert (acked.json()["state"], acked.json()["acknowledged_by"]) == ("acknowledged", operator_name)
    assigned = post(client, f"/{alert.id}/assign", op, {"user": supervisor_name})
    assert (assigned.json()["state"], assigned.json()["assignee_user"]) == ("assigned", supervisor_name)
    escalated = post(client, f"/{alert.id}/escalate", op, {"note": "spreading"})
    assert escalated.json()["severity"] == "critical"
    noted = post(client, f"/{alert.id}/notes", op, {"text": "station checked, reading real"})
    assert noted.status_code == 200
    resolved = post(client, f"/{alert.id}/resolve", op, {"outcome": "handled", "note": "advisory issued"})
    assert (resolved.json()["state"], resolved.json()["outcome"]) == ("resolved", "handled")
    timeline = client.get(f"/api/v1/alerts/{alert.id}/timeline", headers=op).json()
    assert [c["action"] for c in timeline] == [
        "raised", "acknowledge", "assign", "escalate", "note", "resolve"]
    assert [c["to_state"] for c in timeline][-1] == "resolved"
    assert timeline[4]["details"]["text"] == "station checked, reading real"
    assert all(c["actor"] == operator_name for c in timeline[1:])
    with psycopg.connect(database_url) as conn:
        audited = count(conn, "SELECT count(*) FROM hub.audit_log WHERE target = %s", f"alert:{alert.id}")
    assert audited == 5


def test_resolving_a_closed_alert_is_409_with_why(client: httpx.Client, op: dict[str, str], database_url: str,
                                                  catalogue: Catalogue) -> None:
    _, alert = device_with_alert(database_url, catalogue)
    closed = post(client, f"/{alert.id}/resolve", op, {"outcome": "false_alarm"})
    assert closed.json()["state"] == "closed"
    again = post(client, f"/{alert.id}/resolve", op, {"outcome": "cleared"})
    assert again.status_code == 409
    assert "closed" in again.json()["detail"]
    assert "Reopen" in again.json()["detail"]
    assert post(client, f"/{alert.id}/acknowledge", op).status_code == 409


def test_reopen_is_for_supervisors(client: httpx.Client, op: dict[str, str], token_for: Tokens,
                                   database_url: str, catalogue: Catalogue) -> None:
    _, alert = device_with_alert(database_url, catalogue)
    post(client, f"/{alert.id}/acknowledge", op)
    post(client, f"/{alert.id}/resolve", op, {"outcome": "cleared"})
    assert post(client, f"/{alert.id}/reopen", op).status_code == 403
    reopened = post(client, f"/{alert.id}/reopen", bearer(token_for("supervisor")), {"note": "came back"})
    assert reopened.status_code == 200, reopened.text
    assert (reopened.json()["state"], reopened.json()["outcome"]) == ("acknowledged", None)
    assert post(client, f"/{alert.id}/reopen", bearer(token_for("admin"))).status_code == 409


def test_reopen_refused_when_a_newer_alert_is_live(client: httpx.Client, op: dict[str, str],
                                                   token_for: Tokens, database_url: str,
                                                   catalogue: Catalogue) -> None:
    device, alert = device_with_alert(database_url, catalogue)
    post(client, f"/{alert.id}/resolve", op, {"outcome": "cleared"})
    newer = raise_alert(database_url, device, alert.zone, ts=datetime.now(UTC) + timedelta(seconds=1))
    assert newer.id != alert.id
    refused = post(client, f"/{alert.id}/reopen", bearer(token_for("supervisor")))
    assert refused.status_code == 409
    assert str(newer.id) in refused.json()["detail"]


@pytest.mark.parametrize(("role", "method", "path", "status"), [
    ("analyst", "GET", "", 403), ("analyst", "POST", "/acknowledge", 403),
    ("vendor", "GET", "", 403), ("vendor", "GET", "/sop", 403),
    ("supervisor", "POST", "/acknowledge", 200), ("admin", "POST", "/escalate", 200),
])
def test_roles(client: httpx.Client, token_for: Tokens, database_url: str, catalogue: Catalogue,
               role: str, method: str, path: str, status: int) -> None:
    _, alert = device_with_alert(database_url, catalogue)
    response = client.request(method, f"/api/v1/alerts/{alert.id}{path}", headers=bearer(token_for(role)))
    assert response.status_code == status, response.text


@pytest.mark.parametrize(("path", "body", "status", "word"), [
    ("/resolve", {"outcome": "fixed"}, 422, "outcome"),
    ("/resolve", {}, 422, "outcome"),
    ("/notes", {"text": ""}, 422, "text"),
    ("/assign", {"user": "x", "agency": "fire-119"}, 400, "exactly one"),
    ("/assign", {}, 400, "exactly one"),
    ("/assign", {"agency": "no-such-agency"}, 400, "no-such-agency"),
    ("/assign", {"user": "nobody-here"}, 400, "nobody-here"),
    ("/assign", {"agency": "fire-119", "colour": "red"}, 422, "colour"),
])
def test_bad_action_requests(client: httpx.Client, op: dict[str, str], database_url: str,
                             catalogue: Catalogue, path: str, body: object, status: int, word: str) -> None:
    _, alert = device_with_alert(database_url, catalogue)
    response = post(client, f"/{alert.id}{path}", op, body)
    assert response.status_code == status, response.text
    assert word in json.dumps(response.json()["detail"])
    after = client.get(f"/api/v1/alerts/{alert.id}", headers=op).json()
    assert (after["state"], len(after["timeline"])) == ("open", 1)


def test_unknown_and_malformed_alert_ids(client: httpx.Client, op: dict[str, str]) -> None:
    assert client.get("/api/v1/alerts/999999999", headers=op).status_code == 404
    assert post(client, "/999999999/acknowledge", op).status_code == 404
    assert client.get("/api/v1/alerts/abc", headers=op).status_code == 422


def test_assigning_an_agency_queues_a_message_shown_on_the_alert(
    client: httpx.Client, op: dict[str, str], database_url: str, catalogue: Catalogue,
) -> None:
    _, alert = device_with_alert(database_url, catalogue)
    assigned = post(client, f"/{alert.id}/assign", op, {"agency": "fire-119"})
    assert assigned.json()["assignee_agency"] == "fire-119"
    assert assigned.json()["delivery"] in ("pending", "failed", "delivered")
    detail = client.get(f"/api/v1/alerts/{alert.id}", headers=op).json()
    [message] = detail["deliveries"]
    assert (message["agency_id"], message["status_code"]) == ("fire-119", "10")
    agencies = client.get("/api/v1/alerts/agencies", headers=op).json()
    assert {"police-112", "fire-119"} <= {a["id"] for a in agencies}


def test_sop_ticks_are_recorded(client: httpx.Client, op: dict[str, str], accounts: Accounts,
                                database_url: str, catalogue: Catalogue) -> None:
    _, alert = device_with_alert(database_url, catalogue)
    items = client.get(f"/api/v1/alerts/{alert.id}/sop", headers=op).json()
    assert items[0]["text"].startswith("Confirm the reading")  # the air_quality checklist
    ticked = post(client, f"/{alert.id}/sop/2", op).json()
    assert [i["done"] for i in ticked] == [False, True, False, False]
    assert ticked[1]["ticked_by"] == accounts.user_for("operator")[0]
    again = post(client, f"/{alert.id}/sop/2", op)
    assert again.status_code == 409
    assert "already ticked" in again.json()["detail"]
    assert post(client, f"/{alert.id}/sop/99", op).status_code == 404
    unticked = post(client, f"/{alert.id}/sop/2", op, {"done": False}).json()
    assert not unticked[1]["done"]
    timeline = client.get(f"/api/v1/alerts/{alert.id}/timeline", headers=op).json()
    ticks = [c["details"] for c in timeline if c["action"] == "sop_tick"]
    assert [(t["item"], t["done"]) for t in ticks] == [(2, True), (2, False)]


def test_every_change_is_notified_with_its_seq(client: httpx.Client, op: dict[str, str], database_url: str,
                                               catalogue: Catalogue) -> None:
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN hub_alerts")
        _, alert = device_with_alert(database_url, catalogue)
        acked = post(client, f"/{alert.id}/acknowledge", op).json()
        mine: list[dict[str, Any]] = []
        # Other alerts' changes (e.g. the dispatch worker's) may arrive in between.
        for n in listener.notifies(timeout=10):
            note = json.loads(n.payload)
            if note["alert_id"] == alert.id:
                mine.append(note)
            if len(mine) == 2:
                break
    assert [n["state"] for n in mine] == ["open", "acknowledged"]
    assert mine[1]["seq"] == acked["last_seq"] > mine[0]["seq"]
    changes = client.get("/api/v1/alerts/changes", params={"after": mine[0]["seq"]}, headers=op).json()
    assert all(c["seq"] > mine[0]["seq"] for c in changes)
    assert acked["last_seq"] in [c["seq"] for c in changes if c["alert_id"] == alert.id]


def test_kpis_from_known_data(client: httpx.Client, op: dict[str, str], database_url: str,
                              catalogue: Catalogue) -> None:
    zone = unique_zone()
    with psycopg.connect(database_url, autocommit=True) as conn:
        devices = [new_device(conn, catalogue, "air_quality", zone=zone) for _ in range(4)]
        conn.execute("UPDATE hub.devices SET online = (id <> %s) WHERE id = ANY(%s)", (devices[0], devices))
        # A fixed day in Seoul (UTC+9): acknowledged after 2 and 6 minutes, resolved after 20.
        day = datetime(2024, 3, 1, 1, 0, tzinfo=UTC)  # 10:00 KST
        for device, ack_s, resolve_s in ((devices[0], 120, None), (devices[1], 360, 1200)):
            conn.execute(
                "INSERT INTO hub.alerts (rule_id, alert_type, title, source, severity, state, device_id, "
                "zone, first_seen, last_seen, created_at, acknowledged_at, resolved_at, outcome) "
                "VALUES ('pm10-high', 'air_quality', 't', 'rule', 'warning', "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                ("resolved" if resolve_s else "acknowledged", device, zone, day, day, day,
                 day + timedelta(seconds=ack_s),
                 day + timedelta(seconds=resolve_s) if resolve_s else None, "cleared" if resolve_s else None))
    raise_alert(database_url, devices[2], zone, severity="critical")
    body = client.get("/api/v1/kpis", params={"zone": zone, "day": "2024-03-01"}, headers=op).json()
    assert (body["devices_total"], body["devices_online"], body["devices_online_pct"]) == (4, 3, 75.0)
    assert body["open_by_severity"] == {"info": 0, "warning": 1, "critical": 1}
    assert body["open_alerts"] == 2
    assert (body["acknowledged_today"], body["mean_time_to_acknowledge_s"]) == (2, 240.0)
    assert (body["resolved_today"], body["mean_time_to_resolve_s"]) == (1, 1200.0)
    other_day = client.get("/api/v1/kpis", params={"zone": zone, "day": "2024-03-02"}, headers=op).json()
    assert other_day["mean_time_to_acknowledge_s"] is None
    assert client.get("/api/v1/kpis", params={"day": "March"}, headers=op).status_code == 422


def test_handover_json_and_printable_page(client: httpx.Client, op: dict[str, str], token_for: Tokens,
                                          database_url: str, catalogue: Catalogue) -> None:
    zone = unique_zone()
    _, worked = device_with_alert(database_url, catalogue, zone=zone)
    _, waiting = device_with_alert(database_url, catalogue, zone=zone, severity="critical")
    post(client, f"/{worked.id}/acknowledge", op)
    post(client, f"/{worked.id}/notes", op, {"text": "<script>alert(1)</script> 주의: 역 앞 혼잡"})
    post(client, f"/{worked.id}/resolve", op, {"outcome": "cleared"})
    report = client.get("/api/v1/handover", params={"zone": zone}, headers=op).json()
    assert [a["id"] for a in report["open_alerts"]] == [waiting.id]
    assert [e["action"] for e in report["actions"]] == ["acknowledge", "resolve"]
    assert [e["details"]["text"] for e in report["notes"]] == ["<script>alert(1)</script> 주의: 역 앞 혼잡"]
    assert report["raised"] == 2
    assert report["kpis"]["open_by_severity"]["critical"] == 1
    page = client.get("/api/v1/handover/print", params={"zone": zone},
                      headers=bearer(token_for("supervisor")))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Shift handover" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 주의: 역 앞 혼잡" in page.text
    assert "<script>" not in page.text
    assert waiting.title in page.text
    empty = client.get("/api/v1/handover", params={"zone": unique_zone()}, headers=op).json()
    assert (empty["open_alerts"], empty["actions"], empty["notes"]) == ([], [], [])
    bad = client.get("/api/v1/handover", params={"since": "2024-03-02T00:00Z", "until": "2024-03-01T00:00Z"},
                     headers=op)
    assert bad.status_code == 400
    assert client.get("/api/v1/handover", headers=bearer(token_for("vendor"))).status_code == 403


def test_an_alert_says_which_rule_version_raised_it_and_the_agency_that_rule_suggests(
        client: httpx.Client, op: dict[str, str], database_url: str, catalogue: Catalogue) -> None:
    zone = unique_zone()
    with psycopg.connect(database_url, autocommit=True) as conn:
        camera = new_device(conn, catalogue, "cctv", zone=zone, lat=37.5663, lon=126.9779)
    fire = Occurrence(rule_id="cctv-fire:fire", alert_type="fire", title="Fire", source="cctv",
                      severity="critical", device_id=camera, zone=zone, ts=datetime.now(UTC))

    async def go() -> None:
        # As the analytics service raises it: version 3 of the camera rule, suggesting fire-119.
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            assert await raising.apply(conn, [Raised(fire, 3, "fire-119")], frozenset({"fire-119"})) == 1

    asyncio.run(go())
    _, plain = device_with_alert(database_url, catalogue, zone=zone)  # no rule version behind it
    page = client.get("/api/v1/alerts", params={"zone": zone}, headers=op).json()
    listed = {a["rule_id"]: (a["rule_version"], a["suggested_agency"]) for a in page["items"]}
    assert listed == {"cctv-fire:fire": (3, "fire-119"), plain.rule_id: (None, None)}
    fire_id = next(a["id"] for a in page["items"] if a["rule_id"] == "cctv-fire:fire")
    detail = client.get(f"/api/v1/alerts/{fire_id}", headers=op).json()
    assert (detail["rule_version"], detail["suggested_agency"]) == (3, "fire-119")
    # Acting on the alert keeps both.
    acked = post(client, f"/{detail['id']}/acknowledge", op).json()
    assert (acked["rule_version"], acked["suggested_agency"]) == (3, "fire-119")
