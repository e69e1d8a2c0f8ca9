"""Reads of restricted data are audited: the audit log itself, and events holding personal pseudonyms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb
from typer.testing import CliRunner

from hub import audit
from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from ops_console.testing import Accounts
from tests.helpers import new_device
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration


def audit_rows(database_url: str, action: str, actor: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT target, details FROM hub.audit_log WHERE action = %s AND actor = %s "
                            "ORDER BY id", (action, actor)).fetchall()


def assert_chain_intact(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert audit.verify(conn).ok
    _plugins()
    result = CliRunner().invoke(app, ["audit", "verify"], env={"CITYHUB_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert "chain intact" in result.output


def test_reading_the_audit_log_is_audited(client: httpx.Client, accounts: Accounts,
                                          token_for: Callable[[str], str], database_url: str) -> None:
    token = token_for("supervisor")
    username, _ = accounts.user_for("supervisor")
    before = len(audit_rows(database_url, "audit.read", username))
    response = client.get("/api/v1/audit", params={"action": "auth.login", "limit": 3}, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert all(item["action"] == "auth.login" for item in response.json()["items"])
    rows = audit_rows(database_url, "audit.read", username)
    assert len(rows) == before + 1
    target, details = rows[-1]
    assert target == "audit?action=auth.login"
    assert details["rows"] == len(response.json()["items"])
    # The read shows up to whoever reads the log next.
    reads = client.get("/api/v1/audit", params={"action": "audit.read", "actor": username},
                       headers=bearer(token)).json()["items"]
    assert reads[0]["target"] == "audit?action=auth.login"
    assert_chain_intact(database_url)


def test_events_with_personal_pseudonyms_are_audited_once_per_request(
    client: httpx.Client, accounts: Accounts, token_for: Callable[[str], str], database_url: str,
    catalogue: Catalogue,
) -> None:
    token = token_for("operator")
    username, _ = accounts.user_for("operator")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    with psycopg.connect(database_url, autocommit=True) as conn:
        cam, quiet = new_device(conn, catalogue, "cctv"), new_device(conn, catalogue, "cctv")
        for minute, device, subject, attributes in (
            (1, cam, "p-track-1", {"track_id": "p-track-1", "zone_name": "gate"}),
            (2, cam, None, {"licence_plate": "p-plate-9"}),  # personal even without a subject
            (3, cam, None, {"object_class": "person"}),
            (4, quiet, None, {"object_class": "car"}),
        ):
            conn.execute("INSERT INTO hub.events (ts, device_id, type, severity, confidence, subject, "
                         "attributes) VALUES (%s, %s, 'crowd', 'warning', 0.9, %s, %s)",
                         (t0 + timedelta(minutes=minute), device, subject, Jsonb(attributes)))
    before = len(audit_rows(database_url, "events.read_restricted", username))

    page = client.get("/api/v1/events", params={"device": cam}, headers=bearer(token)).json()
    assert {e["subject"] for e in page["items"]} == {"p-track-1", None}
    rows = audit_rows(database_url, "events.read_restricted", username)
    assert len(rows) == before + 1
    target, details = rows[-1]
    assert target.startswith(f"events?device={cam}&from=")
    assert (details["rows"], details["rows_with_personal_data"]) == (3, 2)

    plain = client.get("/api/v1/events", params={"device": quiet}, headers=bearer(token)).json()
    assert len(plain["items"]) == 1
    assert len(audit_rows(database_url, "events.read_restricted", username)) == before + 1
    assert_chain_intact(database_url)
