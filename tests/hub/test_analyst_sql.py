"""The analyst's SQL login (`cityhub user analyst-sql`, a member of cityhub_analyst) reads
every view of the open schema and nothing else: no table, view or sequence of any other
schema (hub.* with its partitions, dead letters, the audit log, users, sessions and
device credentials, restricted.*, and whatever schema comes later), no function of
hub, not even through a function of its own run under a view; every statement is
read-only and stops at the login's timeout. The relations are enumerated from
pg_catalog, so tables added later are covered."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import cast

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hub.analyst_sql import create_analyst_login
from hub.catalogue import Catalogue
from hub.datasets.catalogue import load_datasets
from hub.errors import AlreadyExists, InvalidInput
from tests.helpers import Conn, new_device

pytestmark = pytest.mark.integration

# Every schema the analyst may not read is every schema but these.
SYSTEM = ("pg_catalog", "information_schema", "pg_toast")
# Credentials, keys and personal traces: named so that a rename cannot drop them from the test.
SECRETS = {"dead_letters", "audit_log", "audit_head", "users", "refresh_tokens", "login_attempts",
           "login_throttle", "broker_accounts", "devices", "events", "telemetry"}


def analyst_login(db: Conn, database_url: str, timeout: str) -> Iterator[str]:
    name = f"test_analyst_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    create_analyst_login(db, name, password, statement_timeout=timeout, actor="tests")
    try:
        yield make_conninfo(database_url, user=name, password=password)
    finally:
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture
def analyst_url(db: Conn, database_url: str) -> Iterator[str]:
    yield from analyst_login(db, database_url, "7s")


def relations(db: Conn, *, open_schema: bool) -> list[tuple[str, str]]:
    """(schema, name) of every table, partition, view, materialised view, sequence and
    foreign table in the open schema, or in every other non-system schema."""
    rows = db.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname !~ '^pg_temp_|^pg_toast_temp_' "
        "AND NOT n.nspname = ANY(%s) AND (n.nspname = 'anon') = %s ORDER BY 1, 2",
        (list(SYSTEM), open_schema)).fetchall()
    return [(str(s), str(r)) for s, r in rows]


def test_the_login_reads_every_open_view_and_nothing_else(db: Conn, analyst_url: str) -> None:
    closed = relations(db, open_schema=False)
    assert {r for s, r in closed if s == "hub"} >= SECRETS
    assert any(r.startswith("telemetry_p") for _, r in closed)  # partitions too
    open_views = relations(db, open_schema=True)
    # Every dataset of the catalogue is a relation of the open schema.
    assert {d.relation for d in load_datasets().values()} <= set(open_views)
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        for schema, name in open_views:
            conn.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(schema, name)))
        readable = []
        for schema, name in closed:
            try:
                conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(schema, name)))
                readable.append(f"{schema}.{name}")
            except psycopg.errors.InsufficientPrivilege:
                pass
        assert readable == []
        # Nor by column grants, nor any other privilege on them.
        granted = conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname <> 'anon' "
            "AND NOT n.nspname = ANY(%s) "
            "AND (has_any_column_privilege(c.oid, 'SELECT') OR has_table_privilege(c.oid, "
            "'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))",
            (list(SYSTEM),)).fetchall()
        assert granted == []
        for call in ("SELECT hub.maintain()", "SELECT * FROM hub.time_statistics('hub.telemetry')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(call)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE anon.mine (x int)")
        timeout = conn.execute("SHOW statement_timeout").fetchone()
        assert timeout == ("7s",)
        # search_path is anon: the views need no schema name.
        conn.execute("SELECT count(*) FROM air_quality")


def test_a_login_gets_30_s_unless_told_and_a_statement_stops_at_its_timeout(
    db: Conn, database_url: str
) -> None:
    name = f"test_analyst_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    create_analyst_login(db, name, password, actor="tests")  # no timeout given
    try:
        url = make_conninfo(database_url, user=name, password=password)
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)
    finally:
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    for url in analyst_login(db, database_url, "200ms"):
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(5)")


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
    with pytest.raises(InvalidInput):
        create_analyst_login(db, "test_analyst_x", "long-enough-password", statement_timeout="0")


def views_over_other_schemas(db: Conn) -> list[tuple[str, list[str], bool]]:
    """(view, columns, has a security barrier) of every view of anon that reads a
    relation of another schema."""
    rows = db.execute(
        "SELECT v.relname, array_agg(DISTINCT a.attname::text), "
        "coalesce('security_barrier=true' = ANY(v.reloptions), false) "
        "FROM pg_class v JOIN pg_attribute a ON a.attrelid = v.oid AND a.attnum > 0 "
        "WHERE v.relnamespace = 'anon'::regnamespace AND v.relkind = 'v' AND EXISTS ("
        " SELECT 1 FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass "
        " AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass "
        " JOIN pg_class t ON t.oid = d.refobjid "
        " WHERE r.ev_class = v.oid AND t.relnamespace <> 'anon'::regnamespace) "
        "GROUP BY v.oid ORDER BY 1").fetchall()
    return [(f"anon.{v}", [str(c) for c in cast(list[object], columns)], bool(barrier))
            for v, columns, barrier in rows]


def test_a_function_of_the_analysts_own_sees_no_row_a_view_leaves_out(
    db: Conn, analyst_url: str, catalogue: Catalogue
) -> None:
    # What the views leave out: a smart meter's reading, and its (a home's) position.
    secret_zone = f"home-{secrets.token_hex(4)}"
    meter = new_device(db, catalogue, "smart_meter", zone=secret_zone, lat=37.123456, lon=127.654321)
    station = new_device(db, catalogue, "air_quality", zone=f"zv-{secrets.token_hex(3)}")
    db.execute("INSERT INTO hub.telemetry VALUES (now() - interval '1 minute', %s, 'energy_kwh', "
               "98765.4321), (now() - interval '1 minute', %s, 'pm25', 12.0)", (meter, station))
    views = views_over_other_schemas(db)
    assert {v for v, _, _ in views} >= {"anon.air_quality", "anon.devices", "anon.cctv_event_counts"}
    assert [v for v, _, barrier in views if not barrier] == []
    seen: list[str] = []
    with psycopg.connect(analyst_url, autocommit=True) as conn:
        conn.add_notice_handler(lambda notice: seen.append(str(notice.message_primary)))
        # An analyst may do this: TEMP is PUBLIC's, read-only is only a default.
        conn.execute("SET default_transaction_read_only = off")
        conn.execute("CREATE FUNCTION pg_temp.peek(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 "
                     "AS $$ BEGIN RAISE NOTICE 'peek %', $1; RETURN true; END $$")
        try:
            for view, columns, _ in views:
                for column in columns:  # one column a query: each can be pushed under the view alone
                    conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE pg_temp.peek({}::text)").format(
                        sql.Identifier(*view.split(".")), sql.Identifier(column)))
        finally:
            # Now, not when the server gets round to ending the session: the login is dropped next.
            conn.execute("DISCARD TEMP")
    assert f"peek {station}" in seen  # the function ran on the rows the views show
    leaked = [s for s in seen if any(secret in s for secret in (meter, secret_zone, "98765.4", "37.123456"))]
    assert leaked == []
