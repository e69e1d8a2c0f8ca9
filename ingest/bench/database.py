"""The bench's database: a throw-away one on a local server unless one is given."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import psycopg
from psycopg import sql

from hub.bench.errors import BenchError
from hub.catalogue import load_catalogue
from hub.db import connect, connection, table
from hub.migrate import migration_status
from hub.scratch import scratch_database
from ingest.bench.fleet import Fleet
from ingest.bench.naive import TABLE as NAIVE_TABLE

log = logging.getLogger(__name__)

# Counting millions of rows at the end may take a while, but not forever.
_COUNT_TIMEOUT = "300s"


@dataclass(frozen=True, slots=True)
class RowCount:
    rows: int
    distinct: int  # distinct (device, metric, ts); rows beyond it are duplicates


@contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """A new, migrated database on *admin_url*'s server, dropped on the way out."""
    with scratch_database(admin_url, "cityhub_bench", load_catalogue()) as url:
        yield url


def forget_statements(profile: str | None) -> tuple[sql.Composed, ...]:
    """The DELETEs that remove a run's rows (each takes one parameter: the fleet's LIKE
    pattern) from a database of storage *profile* (as ``cityhub migrate`` recorded it).

    On the plain profile the hub keeps the one-minute rollup in a table of its own, so the
    run's rows are deleted there too. On TimescaleDB ``telemetry_1m`` is a continuous
    aggregate, a view that refuses DELETE: deleting from the ``telemetry`` hypertable is
    enough, as TimescaleDB invalidates those buckets and its refresh policy recomputes them.
    """
    tables: tuple[str, ...]
    if profile == "plain":
        tables = ("telemetry", "telemetry_1m", "dead_letters")
    elif profile == "timescale":
        tables = ("telemetry", "dead_letters")
    else:
        raise BenchError(f"The database records the storage profile {profile!r}; the bench knows "
                         "how to clean up only 'plain' and 'timescale'. Run `cityhub migrate`.")
    deletes = [sql.SQL("DELETE FROM {} WHERE device_id LIKE %s").format(table(name)) for name in tables]
    # Devices behind a gateway refer to it: they go first.
    deletes.append(sql.SQL("DELETE FROM {} WHERE id LIKE %s AND gateway_id IS NOT NULL").format(
        table("devices")))
    deletes.append(sql.SQL("DELETE FROM {} WHERE id LIKE %s").format(table("devices")))
    return tuple(deletes)


def forget_fleet(url: str, fleet: Fleet) -> None:
    """Remove a run's devices, rows and naive table from a database the bench did not make."""
    statements = forget_statements(migration_status(url).profile)
    with connection(url, application_name="cityhub-bench") as conn:
        for statement in statements:
            conn.execute(statement, (f"{fleet.tag}-%",))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(NAIVE_TABLE))


def count_readings(url: str, target: sql.Composable, fleet: Fleet, *, distinct: bool,
                   since: datetime) -> RowCount:
    """Rows of *fleet* in *target* stamped *since* or later (readings carry their publish
    time, so an earlier trial's rows are not counted); distinct ones counted only when asked
    (a primary key makes them equal)."""
    what = sql.SQL("count(DISTINCT (device_id, metric, ts))" if distinct else "count(*)")
    query = sql.SQL("SELECT count(*), {} FROM {} WHERE device_id LIKE %s AND ts >= %s").format(
        what, target)
    with connection(url, application_name="cityhub-bench") as conn:
        conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(
            sql.Literal(_COUNT_TIMEOUT)))
        row = conn.execute(query, (fleet.reading_devices, since)).fetchone()
    assert row is not None
    return RowCount(cast(int, row[0]), cast(int, row[1]))


def backend_pids(url: str, application_name: str) -> tuple[int, ...]:
    """The server processes serving *application_name* in this database (ingest has one
    connection per writer and one for the planner's device lookups)."""
    with connection(url, application_name="cityhub-bench") as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s ORDER BY backend_start",
            (application_name,),
        ).fetchall()
    return tuple(cast(int, r[0]) for r in rows)


def settle(url: str) -> None:
    """Start a trial on a quiet server: no rows of the last trial left for autovacuum,
    no dirty pages of it left for the checkpointer."""
    with connect(url, autocommit=True, application_name="cityhub-bench") as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(NAIVE_TABLE))
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            log.info("not allowed to CHECKPOINT; the trial may pay for earlier writes")
