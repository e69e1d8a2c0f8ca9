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
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from hub import timeseries_query
from hub.errors import NotFound
from hub.timeseries_query import Filter, RollupSource, SeriesQuery, Source
from hub.users import OPERATIONS_ROLES
from ops_console.auth import Principal, require_roles
from ops_console.db import AsyncConn, DbConn
from ops_console.params import cursor_time, decode_cursor, encode_cursor, parse_bucket, time_range

router = APIRouter(prefix="/api/v1/telemetry", tags=["telemetry"])
READERS = OPERATIONS_ROLES
# hub.telemetry and its 1-minute and 1-hour rollups, through the shared query layer.
SOURCE = Source(raw=("hub", "telemetry"), time="ts", value="value", rollups=tuple(
    RollupSource(relation=("hub", f"telemetry_{name}"), time="bucket", count="n", sum="sum", min="min",
                 max="max", width=width, key=("device_id", "metric"))
    for name, width in (("1m", timedelta(minutes=1)), ("1h", timedelta(hours=1)))))
_AGGREGATES = ("avg", "min", "max", "last", "count")


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
    after: tuple[object, ...] | None = None
    if cursor:
        values = decode_cursor(cursor, (str, str))
        c_metric, c_ts = str(values[0]), cursor_time(values[1])
        # The cursor names the first time of the next page: raw rows resume strictly
        # after the microsecond before it, buckets at it.
        after = (c_metric, c_ts - timedelta(microseconds=1) if width is None else c_ts)
    await _exists(conn, device_id)
    filters = [Filter("device_id", (device_id,))]
    if metric is not None:
        filters.append(Filter("metric", (metric,)))
    built = timeseries_query.build(SOURCE, SeriesQuery(
        start=lower, end=upper, width=width, filters=tuple(filters), limit=limit + 1,
        columns=("metric", "ts", "value") if width is None else ("metric",),
        aggregates=() if width is None else _AGGREGATES,
        order=("metric", "ts") if width is None else (), after=after))
    source = built.source
    cur = await conn.execute(built.query, built.params)
    rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    if width is None:
        points = [Point(metric=m, ts=ts, value=v) for m, ts, v in rows]
    else:
        points = [Point(metric=m, ts=b, avg=a, min=lo, max=hi, last=last, count=n)
                  for b, m, a, lo, hi, last, n in rows]
    next_cursor = None
    if more:
        tail = points[-1]
        # The next page starts after the last point (a whole bucket later for buckets).
        step = width if width is not None else timedelta(microseconds=1)
        next_cursor = encode_cursor([tail.metric, (tail.ts + step).isoformat()])
    return Series(device_id=device_id, metric=metric, start=lower, end=upper,
                  bucket_seconds=int(width.total_seconds()) if width else None, source=source,
                  points=points, has_more=more, next_cursor=next_cursor)
