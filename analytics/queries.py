"""The analytics service's reads and its stored position. Rows become our dataclasses here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg import sql

from analytics import store
from analytics.engine import VersionedRule
from analytics.ranges import TimeRange
from analytics.rules import EventRow, ReadingRow

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
Stream = Literal["telemetry", "events"]


async def load_rules(conn: AsyncConn) -> list[VersionedRule]:
    """The enabled rules at their current version."""
    return [VersionedRule(r.spec, r.version) for r in await store.list_rules(conn, enabled_only=True)]


async def agency_ids(conn: AsyncConn) -> frozenset[str]:
    cur = await conn.execute("SELECT id FROM hub.agencies WHERE enabled")
    return frozenset(str(r[0]) for r in await cur.fetchall())


def _range_filter(alias: str, r: TimeRange) -> tuple[sql.Composable, list[Any]]:
    ts = sql.Identifier(alias, "ts")
    clauses: list[sql.Composable] = [sql.SQL("{} >= %s").format(ts)]
    params: list[Any] = [r.start]
    if r.end is not None:
        clauses.append(sql.SQL("{} <= %s").format(ts))
        params.append(r.end)
    if r.devices is not None:
        clauses.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(alias, "device_id")))
        params.append(sorted(r.devices))
    return sql.SQL(" AND ").join(clauses), params


async def readings(conn: AsyncConn, r: TimeRange, metrics: list[str] | None) -> list[ReadingRow]:
    """Readings of the watched *metrics* (None: all) in the range, oldest first."""
    if metrics == [] or (r.devices is not None and not r.devices):
        return []
    where, params = _range_filter("t", r)
    if metrics is not None:
        where = sql.SQL("{} AND t.metric = ANY(%s)").format(where)
        params.append(metrics)
    cur = await conn.execute(
        sql.SQL("SELECT t.ts, t.device_id, d.kind, d.zone, t.metric, t.value "
                "FROM hub.telemetry t JOIN hub.devices d ON d.id = t.device_id "
                "WHERE {} ORDER BY t.ts, t.device_id, t.metric").format(where), params)
    return [ReadingRow(*row) for row in await cur.fetchall()]


async def events(conn: AsyncConn, r: TimeRange) -> list[EventRow]:
    if r.devices is not None and not r.devices:
        return []
    where, params = _range_filter("e", r)
    cur = await conn.execute(
        sql.SQL("SELECT e.ts, e.device_id, d.kind, d.zone, e.type, e.severity "
                "FROM hub.events e JOIN hub.devices d ON d.id = e.device_id "
                "WHERE {} ORDER BY e.ts").format(where), params)
    return [EventRow(*row) for row in await cur.fetchall()]


async def position(conn: AsyncConn, stream: Stream) -> datetime | None:
    cur = await conn.execute("SELECT position FROM hub.analytics_positions WHERE stream = %s", (stream,))
    row = await cur.fetchone()
    return None if row is None else row[0]


async def advance(conn: AsyncConn, stream: Stream, to: datetime) -> None:
    """Move the stream's position forward (never back) to *to*, but never past now: a reading
    stamped in the future by a fast device clock must not make a restart skip the present."""
    await conn.execute(
        "INSERT INTO hub.analytics_positions AS p (stream, position) VALUES (%s, LEAST(%s, now())) "
        "ON CONFLICT (stream) DO UPDATE SET position = GREATEST(p.position, EXCLUDED.position), "
        "updated_at = now()", (stream, to))


async def now(conn: AsyncConn) -> datetime:
    cur = await conn.execute("SELECT now()")
    row = await cur.fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]
