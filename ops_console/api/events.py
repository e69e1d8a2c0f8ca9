"""/api/v1/events: discrete device events (CCTV analytics, outages …), newest first, paged.

Events may carry personal data in pseudonymised form: ``subject`` and the attributes
the device kind marks ``personal`` (a licence plate, a person's track id). That is
restricted data, so a request whose page holds any appends one ``events.read_restricted``
row to the audit log (the filters as target, how many rows held personal data), in
the same transaction as the read; if the row cannot be written, nothing is returned.
Analysts may not read events at all (see ``READERS``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from psycopg import sql
from pydantic import BaseModel

from hub import audit
from hub.errors import NotFound
from hub.users import OPERATIONS_ROLES
from ops_console.auth import Principal, require_roles
from ops_console.db import DbConn
from ops_console.params import cursor_time, decode_cursor, encode_cursor, query_target, time_range

router = APIRouter(prefix="/api/v1/events", tags=["events"])
READERS = OPERATIONS_ROLES

_QUERY = sql.SQL(
    "SELECT e.ts, e.device_id, e.type, e.severity, e.confidence, e.subject, e.attributes, d.zone, "
    "  e.subject IS NOT NULL OR EXISTS (SELECT 1 FROM jsonb_each(k.spec->'fields') f "
    "    WHERE f.value->>'personal' = 'true' AND e.attributes ? f.key) "
    "FROM hub.events e LEFT JOIN hub.devices d ON d.id = e.device_id "
    "LEFT JOIN hub.device_kinds k ON k.name = d.kind "
    "WHERE e.ts >= %(from)s AND e.ts < %(to)s "
    "AND (%(device)s::text IS NULL OR e.device_id = %(device)s) "
    "AND (%(zone)s::text IS NULL OR d.zone = %(zone)s) "
    "AND (%(type)s::text IS NULL OR e.type = %(type)s) "
    "AND (%(severity)s::text IS NULL OR e.severity = %(severity)s) "
    "AND (%(c_ts)s::timestamptz IS NULL OR (e.ts, e.device_id, e.type) < (%(c_ts)s, %(c_dev)s, %(c_type)s)) "
    "ORDER BY e.ts DESC, e.device_id DESC, e.type DESC LIMIT %(n)s"
)


class EventOut(BaseModel):
    ts: datetime
    device_id: str
    zone: str | None
    type: str
    severity: str
    confidence: float | None
    subject: str | None
    attributes: dict[str, Any]


class EventPage(BaseModel):
    items: list[EventOut]
    has_more: bool
    next_cursor: str | None


@router.get("", responses={400: {}, 404: {}})
async def list_events(
    principal: Annotated[Principal, Depends(require_roles(*READERS))],
    conn: DbConn,
    device: str | None = None,
    zone: str | None = None,
    type: str | None = None,
    severity: str | None = None,
    start: Annotated[str | None, Query(alias="from", description="ISO-8601; default to − 24 h.")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO-8601, exclusive; default now.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    cursor: str | None = None,
) -> EventPage:
    """Events in ``[from, to)`` matching every filter given, newest first."""
    lower, upper = time_range(start, end, now=datetime.now(UTC), default_span=timedelta(days=1))
    c_ts: datetime | None = None
    c_dev = c_type = ""
    if cursor:
        values = decode_cursor(cursor, (str, str, str))
        c_ts, c_dev, c_type = cursor_time(values[0]), str(values[1]), str(values[2])
    if device is not None:
        found = await conn.execute("SELECT 1 FROM hub.devices WHERE id = %s", (device,))
        if await found.fetchone() is None:
            raise NotFound(f"No device with id {device!r} is registered.")
    filters = {"device": device, "zone": zone, "type": type, "severity": severity,
               "from": lower.isoformat(), "to": upper.isoformat()}
    async with conn.transaction():
        cur = await conn.execute(_QUERY, {
            "from": lower, "to": upper, "device": device, "zone": zone, "type": type,
            "severity": severity, "c_ts": c_ts, "c_dev": c_dev, "c_type": c_type, "n": limit + 1})
        rows = await cur.fetchall()
        personal = sum(1 for row in rows[:limit] if row[-1])
        if personal:
            await audit.append(conn, actor=principal.username, action="events.read_restricted",
                               target=query_target("events", filters),
                               details={"rows": min(len(rows), limit), "rows_with_personal_data": personal,
                                        "cursor": cursor is not None})
    more = len(rows) > limit
    items = [EventOut(ts=ts, device_id=dev, type=kind, severity=sev, confidence=conf, subject=subj,
                      attributes=attrs or {}, zone=z)
             for ts, dev, kind, sev, conf, subj, attrs, z, _ in rows[:limit]]
    next_cursor = None
    if more:
        tail = items[-1]
        next_cursor = encode_cursor([tail.ts.isoformat(), tail.device_id, tail.type])
    return EventPage(items=items, has_more=more, next_cursor=next_cursor)
