"""/api/v1/telemetry/{device_id}: readings, downsampled on the server, paged with a cursor.

With ``bucket`` each point is one time bucket (``date_bin``, aligned to
2000-01-01T00:00Z, the same origin as the 1-minute rollup) with avg, min, max, last
and count. Buckets of whole minutes over a minute-aligned range are computed from
``hub.telemetry_1m``; others from the raw readings. Without ``bucket`` the raw
readings come back. Pages are at most ``limit`` points; ``has_more`` and
``next_cursor`` say when there is more — nothing is cut silently.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from psycopg import sql
from pydantic import BaseModel

from hub.errors import NotFound
from hub.users import OPERATIONS_ROLES
from ops_console.auth import Principal, require_roles
from ops_console.db import AsyncConn, DbConn
from ops_console.params import cursor_time, decode_cursor, encode_cursor, parse_bucket, time_range

router = APIRouter(prefix="/api/v1/telemetry", tags=["telemetry"])
READERS = OPERATIONS_ROLES
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)

_FILTER = sql.SQL(
    "device_id = %(device)s AND (%(metric)s::text IS NULL OR metric = %(metric)s) "
    "AND {t} >= %(from)s AND {t} < %(to)s AND (metric, {t}) >= (%(c_metric)s, %(c_ts)s)"
)
_RAW = sql.SQL("SELECT metric, ts, value FROM hub.telemetry WHERE {} ORDER BY metric, ts LIMIT %(n)s")
_BUCKETS_RAW = sql.SQL(
    "SELECT metric, date_bin(%(width)s, ts, %(origin)s) AS b, avg(value), min(value), max(value), "
    "(array_agg(value ORDER BY ts DESC))[1], count(*) FROM hub.telemetry WHERE {} "
    "GROUP BY 1, 2 ORDER BY 1, 2 LIMIT %(n)s"
)
# The rollup has no "last": it is one index probe into the raw readings per bucket.
_BUCKETS_1M = sql.SQL(
    "SELECT r.metric, r.b, r.s / r.n, r.lo, r.hi, (SELECT value FROM hub.telemetry t "
    "WHERE t.device_id = %(device)s AND t.metric = r.metric AND t.ts >= r.b AND t.ts < r.b + %(width)s "
    "AND t.ts >= %(from)s AND t.ts < %(to)s "
    "ORDER BY t.ts DESC LIMIT 1), r.n FROM (SELECT metric, date_bin(%(width)s, bucket, %(origin)s) AS b, "
    "sum(sum) AS s, sum(n) AS n, min(min) AS lo, max(max) AS hi FROM hub.telemetry_1m WHERE {} "
    "GROUP BY 1, 2 ORDER BY 1, 2 LIMIT %(n)s) r ORDER BY 1, 2"
)


class Point(BaseModel):
    metric: str
    ts: datetime
    value: float | None = None
    avg: float | None = None
    min: float | None = None
    max: float | None = None
    last: float | None = None
    count: int | None = None


class Series(BaseModel):
    device_id: str
    metric: str | None
    start: datetime
    end: datetime
    bucket_seconds: int | None
    source: str
    points: list[Point]
    has_more: bool
    next_cursor: str | None


def _minute_aligned(moment: datetime) -> bool:
    return (moment - ORIGIN) % timedelta(minutes=1) == timedelta(0)


async def _exists(conn: AsyncConn, device_id: str) -> None:
    cur = await conn.execute("SELECT 1 FROM hub.devices WHERE id = %s", (device_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"No device with id {device_id!r} is registered.")


@router.get("/{device_id}", responses={400: {}, 404: {}})
async def telemetry(
    principal: Annotated[Principal, Depends(require_roles(*READERS))],
    conn: DbConn,
    device_id: str,
    metric: str | None = None,
    start: Annotated[str | None, Query(alias="from", description="ISO-8601; default to − 24 h.")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO-8601, exclusive; default now.")] = None,
    bucket: Annotated[str | None, Query(description="Bucket width, e.g. 30s, 5m, 1h, 1d.")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    cursor: str | None = None,
) -> Series:
    """A device's readings in ``[from, to)``, raw or per bucket, ordered by metric then time."""
    lower, upper = time_range(start, end, now=datetime.now(UTC), default_span=timedelta(days=1))
    width = parse_bucket(bucket) if bucket else None
    c_metric, c_ts = "", lower
    if cursor:
        values = decode_cursor(cursor, (str, str))
        c_metric, c_ts = str(values[0]), cursor_time(values[1])
    await _exists(conn, device_id)
    params: dict[str, Any] = {"device": device_id, "metric": metric, "from": lower, "to": upper,
                              "c_metric": c_metric, "c_ts": c_ts, "n": limit + 1,
                              "width": width, "origin": ORIGIN}
    if width is None:
        source = "raw"
        query = _RAW.format(_FILTER.format(t=sql.Identifier("ts")))
    elif width % timedelta(minutes=1) == timedelta(0) and _minute_aligned(lower) and _minute_aligned(upper):
        source = "rollup_1m"
        query = _BUCKETS_1M.format(_FILTER.format(t=sql.Identifier("bucket")))
    else:
        source = "raw"
        query = _BUCKETS_RAW.format(_FILTER.format(t=sql.Identifier("ts")))
    cur = await conn.execute(query, params)
    rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    if width is None:
        points = [Point(metric=m, ts=ts, value=v) for m, ts, v in rows]
    else:
        points = [Point(metric=m, ts=b, avg=a, min=lo, max=hi, last=last, count=n)
                  for m, b, a, lo, hi, last, n in rows]
    next_cursor = None
    if more:
        tail = points[-1]
        # The next page starts after the last point (a whole bucket later for buckets).
        step = width if width is not None else timedelta(microseconds=1)
        next_cursor = encode_cursor([tail.metric, (tail.ts + step).isoformat()])
    return Series(device_id=device_id, metric=metric, start=lower, end=upper,
                  bucket_seconds=int(width.total_seconds()) if width else None, source=source,
                  points=points, has_more=more, next_cursor=next_cursor)
