"""The analyst's SQL login reads every view of the open schema and nothing of hub.* or
restricted.* (dead letters, audit log, keys, users …), with a statement timeout."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hub.analyst_sql import create_analyst_login
from hub.errors import AlreadyExists, InvalidInput
from tests.helpers import Conn

pytestmark = pytest.mark.integration


@pytest.fixture
def analyst_url(db: Conn, database_url: str) -> Iterator[str]:
    name = f"test_analyst_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    create_analyst_login(db, name, password, statement_timeout="7s", actor="tests")
    params = conninfo_to_dict(database_url)
    try:
        yield make_conninfo("", **{**params, "user": name, "password": password})
    finally:
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def relations(db: Conn, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    rows = db.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') ORDER BY 1, 2",
        (list(schemas),)).fetchall()
    return [(str(s), str(r)) for s, r in rows]


def test_the_login_reads_every_open_view_and_nothing_else(db: Conn, analyst_url: str) -> None:
    closed = relations(db, ("hub", "restricted"))
    names = {r for _, r in closed}
    # The tables that matter most are among those tried.
    assert {"telemetry", "devices", "dead_letters", "audit_log", "users", "refresh_tokens",
            "broker_accounts", "events"} <= names
    assert any(r.startswith("telemetry_p") for r in names)  # partitions too
    open_views = relations(db, ("anon",))
    assert {r for _, r in open_views} >= {"air_quality", "air_quality_1m", "air_quality_1h", "devices",
                                          "cctv_event_counts"}
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        for schema, name in open_views:
            conn.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(schema, name)))
        refused = []
        for schema, name in closed:
            try:
                conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(schema, name)))
            except psycopg.errors.InsufficientPrivilege:
                refused.append(name)
        assert refused == [name for _, name in closed]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT hub.maintain()")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE anon.mine (x int)")
        timeout = conn.execute("SHOW statement_timeout").fetchone()
        assert timeout is not None
        assert timeout[0] == "7s"
        # search_path is anon: the views need no schema name.
        conn.execute("SELECT count(*) FROM air_quality")


def test_names_and_existing_roles_are_checked(db: Conn, analyst_url: str) -> None:
    name = str(conninfo_to_dict(analyst_url)["user"])
    with pytest.raises(AlreadyExists):
        create_analyst_login(db, name, "another-password-1")
    create_analyst_login(db, name, "another-password-1", replace=True)
    for bad in ("Robert'); DROP", "pg_x", "cityhub_console", "1abc"):
        with pytest.raises(InvalidInput):
            create_analyst_login(db, bad, "long-enough-password")
    with pytest.raises(AlreadyExists):  # not an analyst login: never taken over
        create_analyst_login(db, "postgres", "long-enough-password", replace=True)
