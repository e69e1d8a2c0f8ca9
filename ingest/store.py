"""Writes a batch plan to the hub in one transaction.

Telemetry and events are COPYed straight into their tables (telemetry into the
partition of its day when the whole batch fits one: ingest/partitions.py); only
when a batch collides with rows already stored (a redelivery), or with itself, is it
re-sent through a staging table with ``ON CONFLICT DO NOTHING``, first row first. Only
then can a row have been left out, so only then are the staged rows compared with the
stored ones at their keys: those whose value differs are conflicts (ingest/conflicts.py),
reported to the caller. Duplicates are rare, so the fast path wins and costs nothing more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hub.db import SCHEMA, connect, table
from hub.errors import DatabaseUnavailable
from ingest.conflicts import Conflicts
from ingest.errors import StoreError, WriteConflict
from ingest.messages import DeadLetterRow, TelemetryRow
from ingest.notify import notifications
from ingest.partitions import Partition, partition_for, read_partitions
from ingest.pipeline import BatchPlan
from ingest.validate import DeviceInfo

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class _Table:
    name: str  # in the hub schema
    columns: tuple[str, ...]  # COPY order
    types: tuple[str, ...]
    key: tuple[str, ...]  # the primary key
    # What a redelivery repeats exactly; another value here is a conflict. An event's
    # severity is left out: it comes from the catalogue, not from the device.
    value: tuple[str, ...]


_TELEMETRY = _Table("telemetry", ("ts", "device_id", "metric", "value"),
                    ("timestamptz", "text", "text", "float8"),
                    ("device_id", "metric", "ts"), ("value",))
_EVENTS = _Table("events",
                 ("ts", "device_id", "type", "severity", "confidence", "subject", "attributes"),
                 ("timestamptz", "text", "text", "text", "float4", "text", "jsonb"),
                 ("device_id", "type", "ts"), ("confidence", "subject", "attributes"))
# The staged row's position in the batch: the first of a key is inserted first, and a
# conflict is reported by position.
_POSITION = "ingest_position"
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
    """The server's one-line message and SQLSTATE, without its DETAIL and CONTEXT: these
    quote the rows (a refused COPY shows the row's values), and this text reaches the
    logs, dead letters and the device's errors topic."""
    primary = exc.diag.message_primary or (str(exc).strip().splitlines() or [""])[0]
    state = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
    return f"{primary[:200]}{state}"


def _copy(conn: Conn, target: sql.Composable, columns: Sequence[str], types: Sequence[str],
          rows: Iterable[Sequence[object]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def _copy_idempotent(conn: Conn, into: _Table, rows: Sequence[Sequence[object]],
                     direct: sql.Composable | None = None) -> tuple[bool, list[int]]:
    """COPY *rows* into hub.*into*, or straight into *direct*, one of its partitions.
    Returns False first if *direct* turned out unusable (the rows then went through
    hub.*into*), and the positions in *rows* of those not stored because their key
    holds another value."""
    if not rows:
        return True, []
    usable = True
    for target in ((direct,) if direct is not None else ()) + (table(into.name),):
        try:
            with conn.transaction():
                _copy(conn, target, into.columns, into.types, rows)
            return usable, []
        except psycopg.errors.UniqueViolation:
            log.debug("batch for %s holds redelivered rows; using the staging path", into.name)
            break
        except (psycopg.errors.UndefinedTable, psycopg.errors.InsufficientPrivilege,
                psycopg.errors.CheckViolation) as exc:
            if target is not direct:
                raise
            # Dropped, detached or not ours since we looked: the parent routes the rows.
            log.info("partition %s refused the batch (%s); copying through hub.%s",
                     direct.as_string(conn), _brief(exc), into.name)
            usable = False
    return usable, _stage(conn, into, rows)


def _stage(conn: Conn, into: _Table, rows: Sequence[Sequence[object]]) -> list[int]:
    """Insert *rows* through a staging table, skipping keys already stored; the
    positions of the rows whose key now holds another value (the conflicts)."""
    staging = sql.Identifier(f"ingest_staging_{into.name}")
    position = sql.Identifier(_POSITION)
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS, {} integer) "
                "ON COMMIT DELETE ROWS").format(staging, table(into.name), position)
    )
    _copy(conn, staging, (*into.columns, _POSITION), (*into.types, "int4"),
          ((*row, n) for n, row in enumerate(rows)))
    column_list = sql.SQL(", ").join(map(sql.Identifier, into.columns))
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ORDER BY {} ON CONFLICT DO NOTHING").format(
            table(into.name), column_list, column_list, staging, position
        )
    )

    def columns(alias: str, names: Sequence[str]) -> sql.Composable:
        return sql.SQL(", ").join(sql.Identifier(alias, n) for n in names)

    # One index lookup per staged row (LIMIT keeps the planner from hashing the whole
    # table). Inserted rows find themselves; a key stored before, or by an earlier row
    # of the batch, finds that value.
    found = conn.execute(
        sql.SQL(
            "SELECT s.{position} FROM {staging} s CROSS JOIN LATERAL ("
            "SELECT {stored} FROM {table} t WHERE {match} LIMIT 1) t "
            "WHERE ({stored}) IS DISTINCT FROM ({staged}) ORDER BY s.{position}"
        ).format(
            position=position, staging=staging, table=table(into.name),
            stored=columns("t", into.value), staged=columns("s", into.value),
            match=sql.SQL(" AND ").join(
                sql.SQL("{} = {}").format(sql.Identifier("t", k), sql.Identifier("s", k))
                for k in into.key),
        )
    ).fetchall()
    return [int(n) for n, in found]  # type: ignore[call-overload]


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

    def write(self, plan: BatchPlan, also: Callable[[Conn, Conflicts], None] | None = None, *,
              device_state: bool = True) -> Conflicts:
        """Commit everything in *plan* (and *also*'s statements, which are told the
        conflicts), or raise and commit nothing. Returns the rows left out because their
        key holds another value: the caller reports them. Without *device_state* the
        devices' online flags and subjects are left for ``write_device_state``, which a
        writer calls in arrival order."""
        with self._transaction("the batch") as conn:
            seen, conflicts = self._write(conn, plan)
            if device_state:
                self._device_state(conn, plan)
            if also is not None:
                also(conn, conflicts)
        self._seen_written.update(seen)
        return conflicts

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

    def _write(self, conn: Conn, plan: BatchPlan) -> tuple[dict[str, float], Conflicts]:
        direct = self._direct(conn, plan.readings)
        usable, readings = _copy_idempotent(conn, _TELEMETRY, plan.readings, direct)
        if not usable:
            self._partitions_read = -PARTITIONS_TTL_S
        _, events = _copy_idempotent(
            conn, _EVENTS,
            [(e.ts, e.device_id, e.type, e.severity, e.confidence, e.subject, Jsonb(e.attributes))
             for e in plan.events],
        )
        self._dead_letters(conn, plan.dead_letters)
        self._notify(conn, notifications(
            plan.readings, [(e.ts, e.device_id) for e in plan.events], {}))
        conflicts = Conflicts(tuple(plan.readings[n] for n in readings),
                              tuple(plan.events[n] for n in events))
        return self._last_seen(conn, plan.seen), conflicts

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
