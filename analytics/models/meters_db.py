"""The smart meters' hourly profiles as the hub stores them (``hub.telemetry_1h``): one query
for the live scan (analytics/models/live.py) and the training (analytics/models/meters_train.py)."""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

# One row per meter and hour: columns of analytics.models.meters.HOURLY_COLUMNS.
_HOURLY = sql.SQL(
    "SELECT h.device_id, d.zone, h.bucket, "
    "max(h.sum / h.n) FILTER (WHERE h.metric = 'power_kw'), "
    "coalesce(max(h.n) FILTER (WHERE h.metric = 'power_kw'), 0), "
    "max(h.sum / h.n) FILTER (WHERE h.metric = 'voltage'), "
    "max(h.min) FILTER (WHERE h.metric = 'voltage'), "
    "max(h.min) FILTER (WHERE h.metric = 'energy_kwh'), "
    "max(h.max) FILTER (WHERE h.metric = 'energy_kwh') "
    "FROM hub.telemetry_1h h JOIN hub.devices d ON d.id = h.device_id AND d.kind = 'smart_meter' "
    "WHERE {bounds} AND h.metric IN ('power_kw', 'voltage', 'energy_kwh') "
    "GROUP BY h.device_id, d.zone, h.bucket")


def hourly_query(since: datetime, until: datetime | None = None) -> tuple[sql.Composed, tuple[datetime, ...]]:
    """The query for the meters' hours from *since* (and before *until*, when given), with its
    parameters; its rows are what :func:`analytics.models.meters.frame` takes."""
    if until is None:
        return _HOURLY.format(bounds=sql.SQL("h.bucket >= %s")), (since,)
    return _HOURLY.format(bounds=sql.SQL("h.bucket >= %s AND h.bucket < %s")), (since, until)
