"""Whether a device is connected, decided when it is read (no background writer).

Two facts are stored in ``hub.devices`` by ingest: ``online`` (from the device's
retained status topic and its MQTT last will) and ``last_seen`` (its last message,
written at most every 30 s). A device that died without its broker noticing (a cut
cable, a NAT timeout before keep-alive expires) never sends its will, so silence also
counts: no message for ``SILENCE_FACTOR`` × its kind's reporting interval means offline.

:func:`connection_state` is the rule. Every reader of devices builds its query from
:data:`STATE_SELECT` (the device and its kind's interval); where only counts are wanted,
:data:`CONNECTION_SELECT` states the same rule in SQL so the rows need not leave the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg import sql

from hub.domain import Device

Connection = Literal["online", "offline", "never"]

# Three missed reports: one late or lost message does not flip a device offline.
SILENCE_FACTOR = 3
# A kind whose catalogue entry names no reporting interval reports once a minute.
DEFAULT_INTERVAL_S = 60

# hub.devices columns in the order of hub.domain.Device's fields: Device(*row) builds one.
DEVICE_COLUMNS = (
    "id", "kind", "zone", "lat", "lon", "gateway_id", "status", "online", "created_at",
    "revoked_at", "last_seen",
)

_INTERVAL = sql.SQL("COALESCE((k.spec->>'interval_s')::int, {})").format(
    sql.Literal(DEFAULT_INTERVAL_S))
_FROM = sql.SQL("FROM hub.devices d JOIN hub.device_kinds k ON k.name = d.kind")

# Each device (DEVICE_COLUMNS) and its kind's reporting interval; callers add a WHERE on
# ``d``. state_from_row() reads the rows.
STATE_SELECT = sql.SQL("SELECT {}, {} {}").format(
    sql.SQL(", ").join(sql.Identifier("d", c) for c in DEVICE_COLUMNS), _INTERVAL, _FROM)

# connection_state() in SQL, for counting in the database: one column ``connection`` per
# device, with the parameters of connection_params(); callers add a WHERE on ``d``.
# Keep it in step with connection_state() (tests/ops_console/test_kpis.py holds them together).
CONNECTION_SELECT = sql.SQL(
    "SELECT CASE WHEN d.online IS FALSE THEN 'offline' "
    "WHEN d.last_seen IS NULL THEN CASE WHEN d.online THEN 'online' ELSE 'never' END "
    "WHEN d.last_seen < %(state_now)s::timestamptz "
    "- make_interval(secs => %(silence_factor)s * {}) THEN 'offline' "
    "ELSE 'online' END AS connection {}"
).format(_INTERVAL, _FROM)


@dataclass(frozen=True, slots=True)
class DeviceState:
    device: Device
    interval_s: int
    connection: Connection


def connection_state(
    online: bool | None, last_seen: datetime | None, interval_s: int, now: datetime
) -> Connection:
    if online is False:
        return "offline"
    if last_seen is None:
        # A status message without data yet: trust it until data shows otherwise.
        return "online" if online else "never"
    if now - last_seen > timedelta(seconds=SILENCE_FACTOR * interval_s):
        return "offline"
    return "online"


def connection_params(now: datetime) -> dict[str, Any]:
    """The bound parameters of :data:`CONNECTION_SELECT`, judging as of *now*."""
    return {"state_now": now, "silence_factor": SILENCE_FACTOR}


def state_from_row(row: tuple[Any, ...], now: datetime) -> DeviceState:
    """A row of :data:`STATE_SELECT` with its connection state as of *now*."""
    device = Device(*row[:-1])
    interval = int(row[-1])
    return DeviceState(device, interval,
                       connection_state(device.online, device.last_seen, interval, now))
