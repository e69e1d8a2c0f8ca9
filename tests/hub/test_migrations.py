"""Migrations: recorded, idempotent, and the plain profile's partitions and rollup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.catalogue import Catalogue
from hub.migrate import available_migrations, migrate, migration_status
from tests.helpers import Conn, new_device

pytestmark = pytest.mark.integration


def schema_snapshot(db: Conn) -> list[tuple[object, ...]]:
    objects = db.execute(
        "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN ('hub', 'anon', 'restricted') ORDER BY 1, 2"
    ).fetchall()
    columns = db.execute(
        "SELECT table_schema, table_name, column_name, data_type, is_nullable "
        "FROM information_schema.columns WHERE table_schema = 'hub' ORDER BY 1, 2, 3"
    ).fetchall()
    functions = db.execute(
        "SELECT p.proname, md5(p.prosrc) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'hub' ORDER BY 1"
    ).fetchall()
    ledger = db.execute("SELECT version, checksum, applied_at FROM hub.schema_migrations").fetchall()
    kinds = db.execute("SELECT name, spec, updated_at FROM hub.device_kinds ORDER BY name").fetchall()
    return [*objects, *columns, *functions, *ledger, *kinds]


def test_migrations_applied_twice_change_nothing(
    db: Conn, database_url: str, catalogue: Catalogue
) -> None:
    before = schema_snapshot(db)
    assert migrate(database_url, catalogue) == []
    assert schema_snapshot(db) == before


def test_status_names_versions_and_the_plain_profile(database_url: str) -> None:
    status = migration_status(database_url)
    assert status.profile == "plain"
    shipped = [m.version for m in available_migrations("plain")]
    assert shipped[:3] == ["0001", "0002", "0003"]
    assert [m.version for m in status.applied] == shipped
    assert status.pending == ()


def test_partitions_cover_the_retention_window_and_a_week_ahead(db: Conn) -> None:
    bounds = db.execute(
        "SELECT min(lower), max(upper) FROM ("
        " SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''(.*?)''\\)'))[1]::timestamptz"
        "   AS lower,"
        " (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''(.*?)''\\)'))[1]::timestamptz AS upper"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'hub.telemetry'::regclass) b"
    ).fetchone()
    assert bounds is not None
    lower, upper = bounds
    now = datetime.now(UTC)
    assert isinstance(lower, datetime)
    assert isinstance(upper, datetime)
    assert lower <= now - timedelta(days=90)
    assert upper >= now + timedelta(days=7)


def test_the_rollup_counts_each_reading_once(db: Conn, catalogue: Catalogue) -> None:
    station = new_device(db, catalogue, "air_quality")
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    insert = ("INSERT INTO hub.telemetry (ts, device_id, metric, value) VALUES (%s, %s, 'pm10', %s) "
              "ON CONFLICT DO NOTHING")
    db.execute(insert, (minute + timedelta(seconds=1), station, 10.0))
    db.execute(insert, (minute + timedelta(seconds=2), station, 30.0))
    db.execute(insert, (minute + timedelta(seconds=2), station, 99.0))  # a redelivery: ignored
    row = db.execute(
        "SELECT bucket, n, sum / n, min, max FROM hub.telemetry_1m WHERE device_id = %s", (station,)
    ).fetchone()
    assert row == (minute, 2, 20.0, 10.0, 30.0)
