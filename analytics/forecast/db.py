"""Hourly means in, forecasts out: the forecast's reads and writes on the hub.

Hourly means come from ``hub.telemetry_1h`` (migration 0011): a table on the plain profile
and a real-time continuous aggregate under TimescaleDB, with the same name and columns, so
the same SQL serves both. Forecasts go to ``hub.forecasts`` (migration 0020). Rows become
plain tuples or :class:`StoredForecast` here; callers never see psycopg rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

if TYPE_CHECKING:  # the console reads forecasts without loading scikit-learn
    from analytics.forecast.model import Forecast

Conn = psycopg.Connection[tuple[Any, ...]]
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
KIND = "air_quality"

_HOURLY = sql.SQL(
    "SELECT h.bucket, h.device_id, h.sum / h.n FROM hub.telemetry_1h h "
    "JOIN hub.devices d ON d.id = h.device_id "
    "WHERE d.kind = %(kind)s AND h.metric = %(metric)s AND h.n > 0 "
    "AND h.bucket >= %(start)s AND h.bucket < %(end)s ORDER BY h.bucket, h.device_id")
_STATIONS = sql.SQL("SELECT id, zone FROM hub.devices WHERE kind = %(kind)s AND revoked_at IS NULL")
_INSERT = sql.SQL(
    "INSERT INTO hub.forecasts (device_id, metric, made_at, target_at, horizon_h, value, model_version) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (device_id, metric, made_at, horizon_h) DO UPDATE "
    "SET value = EXCLUDED.value, target_at = EXCLUDED.target_at, model_version = EXCLUDED.model_version")
_LATEST = sql.SQL(
    "SELECT made_at, target_at, horizon_h, value, model_version FROM hub.forecasts "
    "WHERE device_id = %(device)s AND metric = %(metric)s AND made_at = "
    "(SELECT max(made_at) FROM hub.forecasts WHERE device_id = %(device)s AND metric = %(metric)s) "
    "ORDER BY horizon_h")
_PRUNE = sql.SQL("DELETE FROM hub.forecasts WHERE made_at < %s")

HourlyRow = tuple[datetime, str, float]


@dataclass(frozen=True, slots=True)
class StoredForecast:
    made_at: datetime
    target_at: datetime
    horizon_h: int
    value: float
    model_version: int


def _hourly_params(start: datetime, end: datetime, metric: str) -> dict[str, Any]:
    return {"kind": KIND, "metric": metric, "start": start, "end": end}


def hourly_means(conn: Conn, start: datetime, end: datetime, metric: str = "pm25") -> list[HourlyRow]:
    """(bucket, station, mean) of every air-quality station's hours in ``[start, end)``."""
    rows = conn.execute(_HOURLY, _hourly_params(start, end, metric)).fetchall()
    return [(r[0], str(r[1]), float(r[2])) for r in rows]


async def ahourly_means(conn: AsyncConn, start: datetime, end: datetime,
                        metric: str = "pm25") -> list[HourlyRow]:
    cur = await conn.execute(_HOURLY, _hourly_params(start, end, metric))
    return [(r[0], str(r[1]), float(r[2])) for r in await cur.fetchall()]


def stations(conn: Conn) -> dict[str, str | None]:
    """Air-quality stations and their zones."""
    return {str(r[0]): r[1] for r in conn.execute(_STATIONS, {"kind": KIND}).fetchall()}


async def astations(conn: AsyncConn) -> dict[str, str | None]:
    cur = await conn.execute(_STATIONS, {"kind": KIND})
    return {str(r[0]): r[1] for r in await cur.fetchall()}


async def store(conn: AsyncConn, forecasts: Sequence[Forecast], metric: str, version: int) -> None:
    """Write one run of forecasts (a rerun of the same hour replaces its values)."""
    if not forecasts:
        return
    async with conn.transaction(), conn.cursor() as cur:
        rows = [(f.station, metric, f.made_at, f.target_at, f.horizon, f.value, version) for f in forecasts]
        await cur.executemany(_INSERT, rows)


async def prune(conn: AsyncConn, before: datetime) -> int:
    cur = await conn.execute(_PRUNE, (before,))
    return cur.rowcount


async def latest(conn: AsyncConn, device_id: str, metric: str = "pm25") -> list[StoredForecast]:
    """The device's newest forecast run, by horizon (empty if it has none)."""
    cur = await conn.execute(_LATEST, {"device": device_id, "metric": metric})
    return [StoredForecast(r[0], r[1], int(r[2]), float(r[3]), int(r[4])) for r in await cur.fetchall()]
