"""/api/v1/devices: list and filter devices; one device with its latest readings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from psycopg import sql
from pydantic import BaseModel

from hub.device_status import STATE_SELECT, state_from_row
from hub.errors import NotFound
from hub.users import OPERATIONS_ROLES
from ops_console.auth import Principal, require_roles
from ops_console.db import AsyncConn, DbConn
from ops_console.params import decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
READERS = OPERATIONS_ROLES

_QUERY = sql.SQL(
    "{} WHERE (%(id)s::text IS NULL OR d.id = %(id)s) "
    "AND (%(kind)s::text IS NULL OR d.kind = %(kind)s) "
    "AND (%(zone)s::text IS NULL OR d.zone = %(zone)s) "
    "AND (%(status)s::text IS NULL OR d.status = %(status)s) "
    "AND (%(after)s::text IS NULL OR d.id > %(after)s) ORDER BY d.id LIMIT %(n)s"
).format(STATE_SELECT)


class DeviceOut(BaseModel):
    id: str
    kind: str
    zone: str | None
    lat: float | None
    lon: float | None
    gateway_id: str | None
    status: str
    connection: Literal["online", "offline", "never"]
    created_at: datetime
    revoked_at: datetime | None
    last_seen: datetime | None


class DevicePage(BaseModel):
    items: list[DeviceOut]
    has_more: bool
    next_cursor: str | None


class LatestReading(BaseModel):
    metric: str
    ts: datetime
    value: float


class DeviceDetail(DeviceOut):
    latest: list[LatestReading]


def _out(row: tuple[Any, ...], now: datetime) -> DeviceOut:
    state = state_from_row(row, now)
    d = state.device
    return DeviceOut(id=d.id, kind=d.kind, zone=d.zone, lat=d.lat, lon=d.lon, gateway_id=d.gateway_id,
                     status=d.status, connection=state.connection,
                     created_at=d.created_at, revoked_at=d.revoked_at, last_seen=d.last_seen)


async def _rows(conn: AsyncConn, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(_QUERY, params)
    return await cur.fetchall()


@router.get("", responses={400: {}})
async def list_devices(
    principal: Annotated[Principal, Depends(require_roles(*READERS))],
    conn: DbConn,
    kind: str | None = None,
    zone: str | None = None,
    status: Literal["active", "revoked"] | None = None,
    connection: Annotated[Literal["online", "offline", "never"] | None,
                          Query(description="Connection state (online, offline, never seen).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> DevicePage:
    """Devices in id order, a page at a time; ``has_more`` says whether ``next_cursor`` has more."""
    after = str(decode_cursor(cursor, (str,))[0]) if cursor else None
    now = datetime.now(UTC)
    found: list[DeviceOut] = []
    exhausted = False
    # The connection state is decided in Python (hub.device_status), so filtering on it
    # reads on until the page is full.
    while len(found) <= limit and not exhausted:
        batch = await _rows(conn, {"id": None, "kind": kind, "zone": zone, "status": status,
                                   "after": after, "n": limit + 1})
        exhausted = len(batch) <= limit
        for row in batch:
            out = _out(row, now)
            after = out.id
            if connection is None or out.connection == connection:
                found.append(out)
            if len(found) > limit:
                break
    more = len(found) > limit
    items = found[:limit]
    return DevicePage(items=items, has_more=more,
                      next_cursor=encode_cursor([items[-1].id]) if more else None)


@router.get("/{device_id}", responses={404: {}})
async def get_device(
    principal: Annotated[Principal, Depends(require_roles(*READERS))],
    conn: DbConn,
    device_id: str,
) -> DeviceDetail:
    """One device, its connection state and the latest reading of each metric."""
    rows = await _rows(conn, {"id": device_id, "kind": None, "zone": None, "status": None,
                              "after": None, "n": 1})
    if not rows:
        raise NotFound(f"No device with id {device_id!r} is registered.")
    device = _out(rows[0], datetime.now(UTC))
    # One index probe per metric of the kind (primary key device, metric, ts).
    cur = await conn.execute(
        "SELECT m.metric, t.ts, t.value FROM hub.device_kinds k "
        "CROSS JOIN LATERAL jsonb_object_keys(k.spec->'metrics') AS m(metric) "
        "CROSS JOIN LATERAL (SELECT ts, value FROM hub.telemetry WHERE device_id = %(id)s "
        "AND metric = m.metric ORDER BY ts DESC LIMIT 1) t WHERE k.name = %(kind)s ORDER BY m.metric",
        {"id": device_id, "kind": device.kind})
    latest = [LatestReading(metric=m, ts=ts, value=v) for m, ts, v in await cur.fetchall()]
    return DeviceDetail(**device.model_dump(), latest=latest)
