"""What the CCTV releases share: their input, its public grid, parameters, the attack.

The input is one row per CCTV event of the period, read from the pseudonymised zone
(``hub.events`` joined to ``hub.devices`` for the camera's zone): ``ts``, ``zone``,
``type`` and ``subject`` (the pseudonym of the event's plate or track, or null). It
never leaves the hub: releases publish aggregates of it only.

A differentially private table must have the same rows whatever the data, so the
cells come from public facts, not from the events: the zones of the registered
cameras, the event types of the ``cctv`` kind and the hours of the period. The loader
puts them in ``DataFrame.attrs`` (``zones``, ``types``, ``hours``), so that
``release`` stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from analytics.privacy.errors import BadReleaseParams
from analytics.privacy.method import Period

Conn = psycopg.Connection[tuple[Any, ...]]
COLUMNS = ("ts", "zone", "type", "subject")

_EVENTS = sql.SQL(
    "SELECT e.ts, coalesce(d.zone, '') AS zone, e.type, e.subject FROM hub.events e "
    "JOIN hub.devices d ON d.id = e.device_id AND d.kind = 'cctv' "
    "WHERE e.ts >= %s AND e.ts < %s ORDER BY e.ts, e.device_id, e.type"
)
_ZONES = sql.SQL("SELECT DISTINCT coalesce(zone, '') FROM hub.devices WHERE kind = 'cctv' ORDER BY 1")
_TYPES = sql.SQL("SELECT jsonb_object_keys(spec -> 'events') FROM hub.device_kinds WHERE name = 'cctv' "
                 "ORDER BY 1")


def hours(start: datetime, end: datetime) -> list[pd.Timestamp]:
    """The hours that overlap [start, end), in UTC."""
    first = pd.Timestamp(start).tz_convert("UTC").floor("h")
    return list(pd.date_range(first, pd.Timestamp(end).tz_convert("UTC"), freq="h", inclusive="left"))


def load_events(conn: Conn, period: Period) -> pd.DataFrame:
    """The period's CCTV events and, in ``attrs``, the public grid of the release."""
    if period.start.tzinfo is None or period.end.tzinfo is None:
        raise BadReleaseParams("A release period needs timezone-aware times.")
    rows = conn.execute(_EVENTS, (period.start, period.end)).fetchall()
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    for column in ("zone", "type", "subject"):
        frame[column] = frame[column].astype("object")
    frame.attrs["zones"] = [str(r[0]) for r in conn.execute(_ZONES).fetchall()]
    frame.attrs["types"] = [str(r[0]) for r in conn.execute(_TYPES).fetchall()]
    frame.attrs["hours"] = hours(period.start, period.end)
    return frame


def grid(data: pd.DataFrame, key: str) -> list[Any]:
    """One public dimension of the release from the loader's ``attrs``."""
    value = data.attrs.get(key)
    if not isinstance(value, list):
        # Cells taken from the data would make a cell's presence reveal it: refuse.
        raise BadReleaseParams(
            f"The CCTV input carries no public {key!r} (load it with the method's load())."
        )
    return value


def number(params: Mapping[str, object], name: str, *, low: float, integer: bool = False) -> float:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadReleaseParams(f"Parameter {name!r} must be a number, not {value!r}.")
    if integer and int(value) != value:
        raise BadReleaseParams(f"Parameter {name!r} must be a whole number, not {value!r}.")
    if not low <= value < float("inf"):
        raise BadReleaseParams(f"Parameter {name!r} must be at least {low:g}, not {value!r}.")
    return float(value)


def uniqueness(table: pd.DataFrame, count: str) -> float:
    """The uniqueness attack on an event release: the share of the published records
    that are alone on their quasi-identifiers (a cell whose count is 1). Each row of
    *table* stands for *count* records sharing its other columns."""
    total = int(table[count].sum())
    if total == 0:
        return 0.0
    return int(table.loc[table[count] == 1, count].sum()) / total
