"""/api/v1/audit: read the hash-chained audit log (admins and supervisors)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from psycopg import sql
from pydantic import BaseModel

from ops_console.auth import Principal, require_roles
from ops_console.db import DbConn
from ops_console.params import decode_cursor, encode_cursor, parse_time

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

_QUERY = sql.SQL(
    "SELECT id, ts, actor, action, target, details, hash FROM hub.audit_log "
    "WHERE (%(actor)s::text IS NULL OR actor = %(actor)s) "
    "AND (%(action)s::text IS NULL OR action = %(action)s) "
    "AND (%(target)s::text IS NULL OR target = %(target)s) "
    "AND (%(from)s::timestamptz IS NULL OR ts >= %(from)s) "
    "AND (%(to)s::timestamptz IS NULL OR ts < %(to)s) "
    "AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(n)s"
)


class AuditOut(BaseModel):
    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    hash: str


class AuditPage(BaseModel):
    items: list[AuditOut]
    has_more: bool
    next_cursor: str | None


@router.get("", responses={400: {}})
async def list_audit(
    principal: Annotated[Principal, Depends(require_roles("admin", "supervisor"))],
    conn: DbConn,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    cursor: str | None = None,
) -> AuditPage:
    """Audit rows, newest first. `cityhub audit verify` checks the chain."""
    before = int(decode_cursor(cursor, (int,))[0]) if cursor else None  # type: ignore[call-overload]
    cur = await conn.execute(_QUERY, {
        "actor": actor, "action": action, "target": target, "from": parse_time("from", start),
        "to": parse_time("to", end), "before": before, "n": limit + 1})
    rows = await cur.fetchall()
    more = len(rows) > limit
    items = [AuditOut(id=i, ts=ts, actor=a, action=act, target=t, details=d, hash=h)
             for i, ts, a, act, t, d, h in rows[:limit]]
    return AuditPage(items=items, has_more=more,
                     next_cursor=encode_cursor([items[-1].id]) if more else None)
