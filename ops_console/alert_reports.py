"""What supervisors read: KPIs of the operators' day and the shift handover report.

"Today" is the calendar day in the operations centre's time zone
(``CITYHUB_OPS_TIMEZONE``, Asia/Seoul by default), computed by PostgreSQL.
Devices count as online by the rule of ``cityhub device list`` and /api/v1/devices
(hub.device_status): the stored flag, overruled by three missed reports. Counts are
taken in the database, so the live board can ask for them every second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from psycopg import sql

from hub.alert_store import COLUMNS, AsyncConn, to_alert
from hub.alerts import LIVE_STATES, SEVERITIES, Alert
from hub.device_status import CONNECTION_SELECT, Connection, connection_params


@dataclass(frozen=True, slots=True)
class Kpis:
    day: date
    timezone: str
    zone: str | None
    devices_total: int
    devices_online: int
    open_by_severity: Mapping[str, int]
    acknowledged_today: int
    mean_time_to_acknowledge_s: float | None
    resolved_today: int
    mean_time_to_resolve_s: float | None

    @property
    def devices_online_pct(self) -> float | None:
        if self.devices_total == 0:
            return None
        return round(100.0 * self.devices_online / self.devices_total, 1)

    @property
    def open_total(self) -> int:
        return sum(self.open_by_severity.values())


@dataclass(frozen=True, slots=True)
class LiveAlertCounts:
    by_severity: Mapping[str, int]  # live alerts (open, acknowledged or assigned)
    unacknowledged: int  # of those, the ones still open


@dataclass(frozen=True, slots=True)
class HandoverEntry:
    seq: int
    at: datetime
    alert_id: int
    alert_title: str
    zone: str | None
    actor: str
    action: str
    from_state: str | None
    to_state: str
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Handover:
    since: datetime
    until: datetime
    zone: str | None
    open_alerts: tuple[Alert, ...]
    raised: int
    actions: tuple[HandoverEntry, ...]
    notes: tuple[HandoverEntry, ...]
    kpis: Kpis


_ZONE = sql.SQL("(%(zone)s::text IS NULL OR zone = %(zone)s)")
_DEVICE_COUNTS = sql.SQL(
    "SELECT count(*) FILTER (WHERE connection = 'online'), "
    "count(*) FILTER (WHERE connection = 'offline'), count(*) FILTER (WHERE connection = 'never') "
    "FROM ({} WHERE d.status = 'active' AND (%(zone)s::text IS NULL OR d.zone = %(zone)s)) s"
).format(CONNECTION_SELECT)
_LIVE_COUNTS = sql.SQL(
    "SELECT severity, count(*), count(*) FILTER (WHERE state = %(unacknowledged)s) FROM hub.alerts "
    "WHERE state = ANY(%(live)s) AND {} GROUP BY severity"
).format(_ZONE)
_LIVE_STATES = sorted(LIVE_STATES)
_MOST_SEVERE_FIRST = list(reversed(SEVERITIES))


async def device_connections(conn: AsyncConn, *, zone: str | None = None,
                             now: datetime | None = None) -> dict[Connection, int]:
    """Active devices (optionally of one zone) by connection state as of *now*."""
    params = {"zone": zone, **connection_params(now or datetime.now(UTC))}
    cur = await conn.execute(_DEVICE_COUNTS, params)
    row = await cur.fetchone()
    assert row is not None
    return {"online": int(row[0]), "offline": int(row[1]), "never": int(row[2])}


async def live_alert_counts(conn: AsyncConn, *, zone: str | None = None) -> LiveAlertCounts:
    """Alerts not yet resolved or closed (optionally of one zone), by severity."""
    cur = await conn.execute(_LIVE_COUNTS, {"live": _LIVE_STATES, "unacknowledged": "open",
                                            "zone": zone})
    by_severity = {s: 0 for s in SEVERITIES}
    unacknowledged = 0
    for severity, n, still_open in await cur.fetchall():
        by_severity[str(severity)] = int(n)
        unacknowledged += int(still_open)
    return LiveAlertCounts(by_severity, unacknowledged)


async def kpis(conn: AsyncConn, *, timezone: str, zone: str | None = None,
               day: date | None = None) -> Kpis:
    params: dict[str, Any] = {"tz": timezone, "zone": zone, "day": day}
    cur = await conn.execute(
        "SELECT d, (d::timestamp AT TIME ZONE %(tz)s), ((d + 1)::timestamp AT TIME ZONE %(tz)s) "
        "FROM (SELECT coalesce(%(day)s::date, (now() AT TIME ZONE %(tz)s)::date) AS d) s", params)
    row = await cur.fetchone()
    assert row is not None
    the_day, start, end = row
    params.update(start=start, end=end)
    devices = await device_connections(conn, zone=zone)
    alerts = await live_alert_counts(conn, zone=zone)
    cur = await conn.execute(
        sql.SQL(
            "SELECT count(*) FILTER (WHERE acknowledged_at >= %(start)s AND acknowledged_at < %(end)s), "
            "avg(extract(epoch FROM acknowledged_at - created_at)) "
            "  FILTER (WHERE acknowledged_at >= %(start)s AND acknowledged_at < %(end)s), "
            "count(*) FILTER (WHERE resolved_at >= %(start)s AND resolved_at < %(end)s), "
            "avg(extract(epoch FROM resolved_at - created_at)) "
            "  FILTER (WHERE resolved_at >= %(start)s AND resolved_at < %(end)s) "
            "FROM hub.alerts WHERE {} AND (acknowledged_at >= %(start)s OR resolved_at >= %(start)s)"
        ).format(_ZONE), params)
    times = await cur.fetchone()
    assert times is not None
    return Kpis(
        day=the_day, timezone=timezone, zone=zone,
        devices_total=sum(devices.values()), devices_online=devices["online"],
        open_by_severity=alerts.by_severity,
        acknowledged_today=int(times[0]),
        mean_time_to_acknowledge_s=None if times[1] is None else round(float(times[1]), 1),
        resolved_today=int(times[2]),
        mean_time_to_resolve_s=None if times[3] is None else round(float(times[3]), 1),
    )


async def handover(conn: AsyncConn, *, since: datetime, until: datetime, timezone: str,
                   zone: str | None = None) -> Handover:
    """Open alerts now, and what operators did and wrote between *since* and *until*."""
    params: dict[str, Any] = {"since": since, "until": until, "zone": zone, "live": _LIVE_STATES,
                              "order": _MOST_SEVERE_FIRST}
    cur = await conn.execute(
        sql.SQL("SELECT {} FROM hub.alerts WHERE state = ANY(%(live)s) AND {} "
                "ORDER BY array_position(%(order)s::text[], severity), created_at")
        .format(COLUMNS, _ZONE), params)
    open_alerts = tuple(to_alert(r) for r in await cur.fetchall())
    cur = await conn.execute(
        sql.SQL("SELECT count(*) FROM hub.alerts WHERE created_at >= %(since)s "
                "AND created_at < %(until)s AND {}").format(_ZONE), params)
    raised = await cur.fetchone()
    cur = await conn.execute(
        sql.SQL(
            "SELECT c.seq, c.at, c.alert_id, a.title, a.zone, c.actor, c.action, c.from_state, "
            "c.to_state, c.details FROM hub.alert_changes c JOIN hub.alerts a ON a.id = c.alert_id "
            "WHERE c.at >= %(since)s AND c.at < %(until)s "
            "AND c.action NOT IN ('raised', 'repeated') AND {} ORDER BY c.seq"
        ).format(sql.SQL("(%(zone)s::text IS NULL OR a.zone = %(zone)s)")), params)
    entries = [HandoverEntry(*r) for r in await cur.fetchall()]
    return Handover(
        since=since, until=until, zone=zone, open_alerts=open_alerts,
        raised=int(raised[0]) if raised else 0,
        actions=tuple(e for e in entries if e.action != "note"),
        notes=tuple(e for e in entries if e.action == "note"),
        kpis=await kpis(conn, timezone=timezone, zone=zone),
    )
