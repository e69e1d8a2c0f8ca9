"""Writes a batch plan to the hub in one transaction.

Telemetry and events are COPYed straight into their tables (telemetry into the
partition of its day when the whole batch fits one: ingest/partitions.py); only
when a batch collides with rows already stored (a redelivery) is it re-sent through
a staging table with ``ON CONFLICT DO NOTHING``. Duplicates are rare, so the fast
path wins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hub.db import SCHEMA, connect, table
from hub.errors import DatabaseUnavailable
from ingest.errors import StoreError, WriteConflict
from ingest.messages import DeadLetterRow, TelemetryRow
from ingest.notify import notifications
from ingest.partitions import Partition, partition_for, read_partitions
from ingest.pipeline import BatchPlan
from ingest.validate import DeviceInfo

log = logging.getLogger(__name__)

_TELEMETRY = ("ts", "device_id", "metric", "value")
_TELEMETRY_TYPES = ("timestamptz", "text", "text", "float8")
_EVENTS = ("ts", "device_id", "type", "severity", "confidence", "subject", "attributes")
_EVENT_TYPES = ("timestamptz", "text", "text", "text", "float4", "text", "jsonb")
_DEAD = ("received_at", "topic", "device_id", "payload", "reason_code", "reason")
_DEAD_TYPES = ("timestamptz", "text", "text", "bytea", "text", "text")
# last_seen is written at most this often per device: it is for operators, not billing.
LAST_SEEN_EVERY = timedelta(seconds=30)

# Partitions are created days ahead; a batch outside every known one looks again
# at most this often before going through the parent.
PARTITIONS_TTL_S = 300.0
PARTITIONS_RETRY_S = 30.0

Conn = psycopg.Connection[tuple[object, ...]]


def _brief(exc: psycopg.Error) -> str:
    return str(exc).strip()[:200]


def _copy(conn: Conn, target: sql.Composable, columns: Sequence[str], types: Sequence[str],
          rows: Iterable[Sequence[object]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def _copy_idempotent(conn: Conn, name: str, columns: Sequence[str], types: Sequence[str],
                     rows: Sequence[Sequence[object]], direct: sql.Composable | None = None
                     ) -> bool:
    """COPY *rows* into hub.*name*, or straight into *direct*, one of its partitions;
    False if *direct* turned out unusable (the rows then went through hub.*name*)."""
    if not rows:
        return True
    usable = True
    for target in ((direct,) if direct is not None else ()) + (table(name),):
        try:
            with conn.transaction():
                _copy(conn, target, columns, types, rows)
            return usable
        except psycopg.errors.UniqueViolation:
            log.debug("batch for %s holds redelivered rows; using the staging path", name)
            break
        except (psycopg.errors.UndefinedTable, psycopg.errors.InsufficientPrivilege,
                psycopg.errors.CheckViolation) as exc:
            if target is not direct:
                raise
            # Dropped, detached or not ours since we looked: the parent routes the rows.
            log.info("partition %s refused the batch (%s); copying through hub.%s",
                     direct.as_string(conn), _brief(exc), name)
            usable = False
    staging = sql.Identifier(f"ingest_staging_{name}")
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ).format(staging, table(name))
    )
    _copy(conn, staging, columns, types, rows)
    column_list = sql.SQL(", ").join(map(sql.Identifier, columns))
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
            table(name), column_list, column_list, staging
        )
    )
    return usable


class Store:
    """One database connection, reopened after an outage."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: Conn | None = None
        self._seen_written: dict[str, float] = {}
        self._partitions: tuple[Partition, ...] = ()
        self._partitions_read = -PARTITIONS_TTL_S

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url, application_name="cityhub-ingest")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _outage(self, exc: psycopg.Error) -> DatabaseUnavailable:
        self.close()
        return DatabaseUnavailable(f"database unavailable: {_brief(exc)}")

    @contextmanager
    def _transaction(self, what: str) -> Iterator[Conn]:
        """A transaction on the connection, with psycopg's errors turned into ours."""
        try:
            conn = self._connection()
            with conn.transaction():
                yield conn
        except psycopg.errors.TransactionRollback as exc:
            # Two writers wanted the same rows (a redelivered reading, a device's row) in
            # opposite orders and PostgreSQL rolled this one back; the connection is fine.
            raise WriteConflict(f"{what} collided with another writer's: {_brief(exc)}") from exc
        except psycopg.OperationalError as exc:
            raise self._outage(exc) from exc
        except psycopg.Error as exc:
            raise StoreError(f"{what} was refused: {_brief(exc)}") from exc

    def write(self, plan: BatchPlan, also: Callable[[Conn], None] | None = None, *,
              device_state: bool = True) -> None:
        """Commit everything in *plan* (and *also*'s statements), or raise and commit
        nothing. Without *device_state* the devices' online flags and subjects are left
        for ``write_device_state``, which a writer calls in arrival order."""
        with self._transaction("the batch") as conn:
            seen = self._write(conn, plan)
            if device_state:
                self._device_state(conn, plan)
            if also is not None:
                also(conn)
        self._seen_written.update(seen)

    def write_device_state(self, plan: BatchPlan) -> None:
        """Commit *plan*'s online flags and subjects (and their notifications) alone."""
        if plan.online or plan.subjects:
            with self._transaction("the device status") as conn:
                self._device_state(conn, plan)

    def write_dead_letters(self, rows: Sequence[DeadLetterRow]) -> None:
        with self._transaction("the dead letter") as conn:
            self._dead_letters(conn, rows)

    def _dead_letters(self, conn: Conn, rows: Sequence[DeadLetterRow]) -> None:
        if rows:
            _copy(conn, table("dead_letters"), _DEAD, _DEAD_TYPES,
                  ((d.received_at, d.topic, d.device_id, d.payload, d.code, d.reason)
                   for d in rows))

    def _direct(self, conn: Conn, readings: Sequence[TelemetryRow]) -> sql.Identifier | None:
        """The partition to COPY *readings* into directly, if one holds them all."""
        if not readings:
            return None
        age = time.monotonic() - self._partitions_read
        found = partition_for(self._partitions, readings) if age < PARTITIONS_TTL_S else None
        if found is None and age >= PARTITIONS_RETRY_S:
            self._partitions = read_partitions(conn)
            self._partitions_read = time.monotonic()
            found = partition_for(self._partitions, readings)
        return None if found is None else sql.Identifier(SCHEMA, found.name)

    def _write(self, conn: Conn, plan: BatchPlan) -> dict[str, float]:
        direct = self._direct(conn, plan.readings)
        if not _copy_idempotent(conn, "telemetry", _TELEMETRY, _TELEMETRY_TYPES, plan.readings,
                                direct):
            self._partitions_read = -PARTITIONS_TTL_S
        _copy_idempotent(
            conn, "events", _EVENTS, _EVENT_TYPES,
            [(e.ts, e.device_id, e.type, e.severity, e.confidence, e.subject, Jsonb(e.attributes))
             for e in plan.events],
        )
        self._dead_letters(conn, plan.dead_letters)
        self._notify(conn, notifications(
            plan.readings, [(e.ts, e.device_id) for e in plan.events], {}))
        return self._last_seen(conn, plan.seen)

    def _device_state(self, conn: Conn, plan: BatchPlan) -> None:
        # Last write wins, so these must be written in the order the messages arrived.
        if plan.online:
            conn.execute(
                "UPDATE hub.devices d SET online = u.online FROM unnest(%s::text[], %s::bool[]) "
                "AS u(id, online) WHERE d.id = u.id",
                (list(plan.online), list(plan.online.values())),
            )
        if plan.subjects:
            conn.execute(
                "UPDATE hub.devices d SET subject = u.subject FROM unnest(%s::text[], %s::text[]) "
                "AS u(id, subject) WHERE d.id = u.id AND d.subject IS DISTINCT FROM u.subject",
                (list(plan.subjects), list(plan.subjects.values())),
            )
        self._notify(conn, notifications([], [], plan.online))

    def _notify(self, conn: Conn, notes: list[tuple[str, str]]) -> None:
        # Sent inside the transaction: PostgreSQL delivers them only if it commits.
        if notes:
            conn.execute(
                "SELECT pg_notify(c, p) FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY "
                "AS u(c, p, n) ORDER BY n",
                ([c for c, _ in notes], [p for _, p in notes]),
            )

    def _last_seen(self, conn: Conn, seen: dict[str, float]) -> dict[str, float]:
        every = LAST_SEEN_EVERY.total_seconds()
        due = {d: t for d, t in seen.items() if t - self._seen_written.get(d, 0.0) >= every}
        if not due:
            return due
        conn.execute(
            "UPDATE hub.devices d SET last_seen = u.seen FROM unnest(%s::text[], %s::timestamptz[]) "
            "AS u(id, seen) WHERE d.id = u.id AND (d.last_seen IS NULL OR d.last_seen < u.seen)",
            (list(due), [datetime.fromtimestamp(t, tz=UTC) for t in due.values()]),
        )
        return due

    def devices(self, ids: Sequence[str] | None = None) -> dict[str, DeviceInfo]:
        """Device facts ingest needs: all devices, or just *ids*."""
        try:
            conn = self._connection()
            with conn.transaction():
                if ids is None:
                    rows = conn.execute(
                        "SELECT id, kind, status = 'active', gateway_id FROM hub.devices"
                    ).fetchall()
                else:
                    rows = conn.execute(
                        "SELECT id, kind, status = 'active', gateway_id FROM hub.devices "
                        "WHERE id = ANY(%s)",
                        (list(ids),),
                    ).fetchall()
        except psycopg.OperationalError as exc:
            raise self._outage(exc) from exc
        return {str(i): DeviceInfo(str(k), bool(a), g if g is None else str(g)) for i, k, a, g in rows}

    def retention(self) -> timedelta:
        try:
            conn = self._connection()
            with conn.transaction():
                row = conn.execute(
                    "SELECT retention FROM hub.storage_policy WHERE table_name = 'telemetry'"
                ).fetchone()
        except psycopg.OperationalError as exc:
            raise self._outage(exc) from exc
        return row[0] if row and isinstance(row[0], timedelta) else timedelta(days=90)

    def maintain(self) -> None:
        try:
            conn = self._connection()
            with conn.transaction():
                conn.execute("SELECT hub.maintain()")
        except psycopg.OperationalError as exc:
            raise self._outage(exc) from exc
