"""Database reads of the live view: alert changes to resume from, readings, zones, KPIs.

Each function takes an open async connection and returns live messages or plain
values; the SQL is composed with psycopg's ``sql`` module and bound parameters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from ops_console.alert_reports import device_connections, live_alert_counts
from ops_console.live import messages
from ops_console.live.messages import Message

AConn = psycopg.AsyncConnection[tuple[Any, ...]]

_BACKLOG = sql.SQL(
    "SELECT seq, alert_id, to_state, severity, action, at FROM {} WHERE seq > %s ORDER BY seq LIMIT %s"
).format(sql.Identifier("hub", "alert_changes"))
_LATEST_SEQ = sql.SQL("SELECT coalesce(max(seq), 0) FROM {}").format(sql.Identifier("hub", "alert_changes"))
_ZONES = sql.SQL("SELECT id, zone FROM {} WHERE id = ANY(%s)").format(sql.Identifier("hub", "devices"))
_ZONE_DEVICES = sql.SQL("SELECT id FROM {} WHERE zone = ANY(%s)").format(sql.Identifier("hub", "devices"))
# The latest value of each metric of each device within the notified range.
_LATEST_READINGS = sql.SQL(
    "SELECT DISTINCT ON (device_id, metric) device_id, metric, ts, value FROM {} "
    "WHERE ts BETWEEN %s AND %s AND device_id = ANY(%s) ORDER BY device_id, metric, ts DESC"
).format(sql.Identifier("hub", "telemetry"))
_EVENTS = sql.SQL(
    "SELECT device_id, ts, type, severity, confidence FROM {} "
    "WHERE ts BETWEEN %s AND %s AND (%s::text[] IS NULL OR device_id = ANY(%s)) ORDER BY ts LIMIT 500"
).format(sql.Identifier("hub", "events"))


async def alert_backlog(conn: AConn, since_seq: int, limit: int) -> list[Message]:
    """Alert changes after *since_seq*, oldest first, at most *limit*."""
    cur = await conn.execute(_BACKLOG, (since_seq, limit))
    return [
        messages.alert_change(int(alert_id), int(seq), str(state), str(severity),
                              action=str(action), at=at.isoformat())
        for seq, alert_id, state, severity, action, at in await cur.fetchall()
    ]


async def latest_seq(conn: AConn) -> int:
    cur = await conn.execute(_LATEST_SEQ)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def zones(conn: AConn, device_ids: Collection[str]) -> dict[str, str | None]:
    cur = await conn.execute(_ZONES, (list(device_ids),))
    return {str(i): (str(z) if z is not None else None) for i, z in await cur.fetchall()}


async def devices_in_zones(conn: AConn, zone_names: Collection[str]) -> list[str]:
    cur = await conn.execute(_ZONE_DEVICES, (list(zone_names),))
    return [str(r[0]) for r in await cur.fetchall()]


async def latest_readings(
    conn: AConn, start: datetime, end: datetime, device_ids: Collection[str]
) -> dict[str, list[dict[str, Any]]]:
    """``{device_id: [{"ts", "metric", "value"}, …]}`` for readings in [start, end]."""
    cur = await conn.execute(_LATEST_READINGS, (start, end, list(device_ids)))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for device_id, metric, ts, value in await cur.fetchall():
        out[str(device_id)].append({"ts": ts.isoformat(), "metric": str(metric), "value": float(value)})
    return dict(out)


async def recent_events(
    conn: AConn, start: datetime, end: datetime, device_ids: Collection[str] | None
) -> dict[str, list[dict[str, Any]]]:
    ids = list(device_ids) if device_ids is not None else None
    cur = await conn.execute(_EVENTS, (start, end, ids, ids))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for device_id, ts, kind, severity, confidence in await cur.fetchall():
        out[str(device_id)].append({"ts": ts.isoformat(), "type": str(kind), "severity": str(severity),
                                    "confidence": confidence})
    return dict(out)


async def kpi_values(conn: AConn) -> dict[str, Any]:
    """Counts for the board's tiles: open alerts by severity, unacknowledged, devices."""
    # The same counts as /api/v1/kpis; for devices, the rule of the device list too.
    alerts = await live_alert_counts(conn)
    devices = await device_connections(conn)
    total = sum(devices.values())
    online, offline = devices["online"], total - devices["online"]
    return {"open_alerts": dict(alerts.by_severity), "unacknowledged": alerts.unacknowledged,
            "devices_online": online, "devices_offline": offline, "devices_total": total}
