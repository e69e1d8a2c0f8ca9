"""The hash-chained audit log: appends chain, verify detects altered, deleted and truncated rows.

Tampering tests run in their own throw-away database, so the shared one stays intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from hub import audit, audit_keys
from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.scratch import scratch_database
from tests.helpers import Conn
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh(pg_admin_url: str, catalogue: Catalogue) -> Iterator[tuple[str, Conn]]:
    with scratch_database(pg_admin_url, f"cityhub_audit_{os.getpid()}", catalogue) as url, \
            psycopg.connect(url, autocommit=True) as conn:
        for i in range(5):
            audit.append(conn, actor="op-1", action="alert.ack", target=f"alert:{i}",
                         details={"note": f"checked {i}", "n": i, "ratio": 0.1 * i,
                                  "nested": {"b": 1, "a": [1, 2]}, "big": 1e20})
        yield url, conn


def verify_cli(url: str) -> tuple[int, str]:
    _plugins()
    result = CliRunner().invoke(app, ["audit", "verify"], env={"CITYHUB_DATABASE_URL": url})
    return result.exit_code, result.output


def test_an_intact_log_verifies_with_its_count(fresh: tuple[str, Conn]) -> None:
    url, conn = fresh
    result = audit.verify(conn)
    assert result.ok
    assert result.count == 5
    code, output = verify_cli(url)
    assert code == 0
    assert "OK: 5 rows" in output


def test_an_updated_row_is_reported_as_altered(fresh: tuple[str, Conn]) -> None:
    url, conn = fresh
    conn.execute("UPDATE hub.audit_log SET details = '{\"note\": \"nothing to see\"}' WHERE id = 3")
    result = audit.verify(conn)
    assert (result.ok, result.problem, result.row_id, result.count) == (False, "altered", 3, 2)
    code, output = verify_cli(url)
    assert code == 1
    assert "row 3 was altered" in output


def test_a_recomputed_hash_still_breaks_the_next_link(fresh: tuple[str, Conn]) -> None:
    _, conn = fresh
    row = conn.execute("SELECT id, ts, actor, action, target, details::text, prev_hash FROM hub.audit_log "
                       "WHERE id = 2").fetchone()
    assert row is not None
    # Even with the audit key, recomputing one row's hash leaves the next row's link broken.
    keys = audit_keys.for_verify()
    assert keys is not None
    forged = audit.keyed_row_hash(keys.keys[keys.current], keys.current, str(row[6]), int(row[0]),  # type: ignore[call-overload]
                                  row[1], "someone-else", str(row[3]), str(row[4]), str(row[5]))  # type: ignore[arg-type]
    conn.execute("UPDATE hub.audit_log SET actor = 'someone-else', hash = %s WHERE id = 2", (forged,))
    result = audit.verify(conn)
    assert (result.ok, result.problem, result.row_id) == (False, "altered", 3)


def test_a_deleted_middle_row_is_reported_missing(fresh: tuple[str, Conn]) -> None:
    url, conn = fresh
    conn.execute("DELETE FROM hub.audit_log WHERE id = 2")
    result = audit.verify(conn)
    assert (result.ok, result.problem, result.row_id) == (False, "missing", 2)
    code, output = verify_cli(url)
    assert code == 1
    assert "row 2 is missing" in output


def test_deleting_the_newest_rows_is_detected_through_the_head(fresh: tuple[str, Conn]) -> None:
    url, conn = fresh
    conn.execute("DELETE FROM hub.audit_log WHERE id >= 4")
    result = audit.verify(conn)
    assert (result.ok, result.problem, result.row_id, result.count) == (False, "missing", 4, 3)
    code, output = verify_cli(url)
    assert code == 1
    assert "rows 4..5 are missing" in output


def test_appends_continue_the_chain_and_roll_back_with_the_caller(fresh: tuple[str, Conn]) -> None:
    _, conn = fresh
    def failing_action() -> None:
        with conn.transaction():
            audit.append(conn, actor="op-1", action="alert.resolve", target="alert:9", details={})
            raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        failing_action()
    assert audit.append(conn, actor="op-1", action="alert.resolve", target="alert:9", details={}) == 6
    assert audit.verify(conn).ok


def test_the_console_role_may_append_but_not_rewrite(fresh: tuple[str, Conn]) -> None:
    _, conn = fresh
    grants = {str(r[0]) for r in conn.execute(
        "SELECT privilege_type FROM information_schema.role_table_grants "
        "WHERE grantee = 'cityhub_console' AND table_schema = 'hub' AND table_name = 'audit_log'")}
    assert grants == {"SELECT", "INSERT"}


def test_check_chain_is_pure_and_finds_a_forked_head() -> None:
    ts = datetime(2026, 5, 1, tzinfo=UTC)
    h1 = audit.row_hash(audit.GENESIS, 1, ts, "a", "x", "t", "{}")
    entry = audit.AuditEntry(1, ts, "a", "x", "t", "{}", audit.GENESIS, h1)
    assert audit.check_chain([entry], 1, h1).ok
    assert audit.check_chain([entry], 1, "f" * 64).problem == "head"
    assert audit.check_chain([], 0, audit.GENESIS).ok


def test_rest_endpoint_lists_newest_first_and_pages(
    client: httpx.Client, token_for: Callable[[str], str]
) -> None:
    token_for("supervisor")
    token = token_for("admin")
    first = client.get("/api/v1/audit", params={"limit": 2}, headers=bearer(token))
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 2
    assert page["has_more"]
    ids = [item["id"] for item in page["items"]]
    assert ids == sorted(ids, reverse=True)
    second = client.get("/api/v1/audit", params={"limit": 2, "cursor": page["next_cursor"]},
                        headers=bearer(token)).json()
    assert second["items"][0]["id"] < ids[-1]
    logins = client.get("/api/v1/audit", params={"action": "auth.login"}, headers=bearer(token)).json()
    assert all(item["action"] == "auth.login" for item in logins["items"])
    assert logins["items"]
    bad = client.get("/api/v1/audit", params={"cursor": "%%%"}, headers=bearer(token))
    assert bad.status_code == 400
    assert "cursor" in bad.json()["detail"]
