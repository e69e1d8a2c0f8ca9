"""/api/v1/audit: read the hash-chained audit log (admins and supervisors).

The log names who did what, so reading it is itself audited: each request appends
an ``audit.read`` row (the filters as target) after the read, in one transaction;
the page returned does not include that row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from psycopg import sql
from pydantic import BaseModel

from hub import audit
from ops_console.auth import Principal, require_roles
from ops_console.db import DbConn
from ops_console.params import decode_cursor, encode_cursor, parse_time, query_target

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
    lower, upper = parse_time("from", start), parse_time("to", end)
    filters = {"actor": actor, "action": action, "target": target,
               "from": lower.isoformat() if lower else None, "to": upper.isoformat() if upper else None}
    async with conn.transaction():
        cur = await conn.execute(_QUERY, {
            "actor": actor, "action": action, "target": target, "from": lower,
            "to": upper, "before": before, "n": limit + 1})
        rows = await cur.fetchall()
        await audit.append(conn, actor=principal.username, action="audit.read",
                           target=query_target("audit", filters),
                           details={"rows": min(len(rows), limit), "before_id": before})
    more = len(rows) > limit
    items = [AuditOut(id=i, ts=ts, actor=a, action=act, target=t, details=d, hash=h)
             for i, ts, a, act, t, d, h in rows[:limit]]
    return AuditPage(items=items, has_more=more,
                     next_cursor=encode_cursor([items[-1].id]) if more else None)
