"""Zone areas for the density rules, read from the registry (``hub.zones``, migration 0021)."""

from __future__ import annotations

from typing import Any

import psycopg

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]


async def zone_areas(conn: AsyncConn) -> dict[str, float]:
    cur = await conn.execute("SELECT zone, area_m2 FROM hub.zones")
    return {str(zone): float(area) for zone, area in await cur.fetchall()}
