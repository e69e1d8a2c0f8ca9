"""Reading stored telemetry back (both storage profiles run the same SQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import psycopg

from hub.domain import Reading


def iter_readings(
    conn: psycopg.Connection[tuple[object, ...]],
    device_id: str,
    *,
    metric: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Iterator[Reading]:
    """Stream a device's readings in time order, without loading them all at once."""
    with conn.cursor(name="cityhub_readings") as cur:
        cur.execute(
            "SELECT ts, device_id, metric, value FROM hub.telemetry "
            "WHERE device_id = %(device)s AND (%(metric)s::text IS NULL OR metric = %(metric)s) "
            "AND (%(start)s::timestamptz IS NULL OR ts >= %(start)s) "
            "AND (%(end)s::timestamptz IS NULL OR ts < %(end)s) ORDER BY ts, metric",
            {"device": device_id, "metric": metric, "start": start, "end": end},
        )
        for ts, dev, met, value in cur:
            yield Reading(ts, dev, met, value)  # type: ignore[arg-type]
