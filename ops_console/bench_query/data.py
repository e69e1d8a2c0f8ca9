"""The bench's data, made inside PostgreSQL: registering 1,000 stations through the registry
would hash 1,000 tokens and publishing 43.2 M readings over MQTT would take hours, while
``INSERT … SELECT generate_series`` writes them at the server's speed.

The rollup trigger is switched off for the bench's session (``session_replication_role``):
with its transition table PostgreSQL inserts row by row and groups the rows again. With
one reading a minute, each 1-minute bucket is that reading (n = 1, sum = min = max =
value), which the bench writes itself in the same statement with the hourly rollup: the
rollups hold what the trigger would have written (plain profile).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg import sql
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.db import connect
from hub.timeseries_query import ORIGIN

DEVICE_PREFIX = "bench-aq-"
METRIC = "pm25"
ZONES = ("jongno-gu", "jung-gu", "yongsan-gu", "mapo-gu", "gangnam-gu", "songpa-gu", "gwanak-gu",
         "seocho-gu", "nowon-gu", "guro-gu")

_DEVICES = sql.SQL(
    "INSERT INTO hub.devices (id, kind, zone, lat, lon, token_hash, online) "
    "SELECT %(prefix)s || lpad(i::text, 5, '0'), 'air_quality', (%(zones)s::text[])[1 + i %% %(nz)s], "
    "37.55 + (i %% 97) / 1000.0, 126.98 + (i %% 89) / 1000.0, 'bench: no token', true "
    "FROM generate_series(0, %(n)s - 1) AS i"
)
# Device-major order, as the primary key (device_id, metric, ts) is laid out: PM2.5 with a
# daily cycle (computed once per minute), a fixed offset per station and noise, in float
# arithmetic (numeric rounding alone doubled the time). Each reading is also its 1-minute
# rollup bucket (n = 1), written in the same statement, and the day's hours too (a day holds
# whole hours): nothing is read back.
_READINGS = sql.SQL(
    "WITH m AS (SELECT t, 8 * sin(extract(epoch FROM t) / 86400 * 2 * pi()) AS cycle "
    "FROM generate_series(%(lo)s::timestamptz, %(hi)s::timestamptz - interval '1 minute', "
    "interval '1 minute') AS t), "
    "d AS (SELECT id, abs(hashtext(id)) %% 9 AS off FROM hub.devices WHERE id LIKE %(like)s), "
    "r AS (INSERT INTO hub.telemetry (ts, device_id, metric, value) "
    "SELECT m.t, d.id, %(metric)s, greatest(0, round((18 + d.off + m.cycle + random() * 5) * 10) / 10) "
    "FROM (SELECT * FROM d ORDER BY id) AS d CROSS JOIN LATERAL (SELECT * FROM m) AS m "
    "RETURNING ts, device_id, metric, value), "
    "w AS (INSERT INTO hub.telemetry_1m (bucket, device_id, metric, n, sum, min, max) "
    "SELECT ts, device_id, metric, 1, value, value, value FROM r) "
    "INSERT INTO hub.telemetry_1h (bucket, device_id, metric, n, sum, min, max) "
    "SELECT date_bin('1 hour', ts, %(origin)s), device_id, metric, count(*), sum(value), min(value), "
    "max(value) FROM r GROUP BY 1, 2, 3"
)


@dataclass(frozen=True, slots=True)
class Dataset:
    """What was generated: *devices* stations, one reading a minute each in [start, end)."""

    devices: int
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start) / timedelta(minutes=1))

    @property
    def rows(self) -> int:
        return self.devices * self.minutes

    def device(self, i: int) -> str:
        return f"{DEVICE_PREFIX}{i:05d}"


def plan(devices: int, days: int, now: datetime | None = None) -> Dataset:
    """*days* whole days ending at the last full hour: inside the retention, never ahead of now."""
    moment = now or datetime.now(UTC)
    end = moment.replace(minute=0, second=0, microsecond=0)
    return Dataset(devices, end - timedelta(days=days), end)


def generate(url: str, data: Dataset, progress: Progress | None = None) -> None:
    """Register the stations and write their readings a day at a time, with a progress bar."""
    bar = progress or Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TimeElapsedColumn())
    with connect(url, autocommit=True, application_name="cityhub-bench-query") as conn, bar:
        conn.execute("SELECT hub.maintain()")
        conn.execute("SET session_replication_role = replica")
        conn.execute(_DEVICES, {"prefix": DEVICE_PREFIX, "zones": list(ZONES), "nz": len(ZONES),
                                "n": data.devices})
        days = bar.add_task(f"readings ({data.rows:,} rows)", total=data.rows)
        lo = data.start
        while lo < data.end:
            hi = min(lo + timedelta(days=1), data.end)
            params = {"metric": METRIC, "like": f"{DEVICE_PREFIX}%", "lo": lo, "hi": hi, "origin": ORIGIN}
            conn.execute(_READINGS, params)
            bar.advance(days, data.devices * int((hi - lo) / timedelta(minutes=1)))
            lo = hi
        conn.execute("RESET session_replication_role")
        tidy = bar.add_task("VACUUM ANALYZE", total=1)
        # As data that has been in the hub a while: statistics known, visibility map set.
        conn.execute("VACUUM (ANALYZE) hub.telemetry, hub.telemetry_1m, hub.telemetry_1h, hub.devices")
        bar.advance(tidy)


@contextmanager
def analyst_login(url: str) -> Iterator[tuple[str, str]]:
    """A throw-away LOGIN role in cityhub_analyst, as an administrator grants a data scientist
    SQL access: (role, password). Roles are cluster-wide, so it is dropped on the way out."""
    role = f"bench_analyst_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    with connect(url, autocommit=True, application_name="cityhub-bench-query") as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE cityhub_analyst").format(
            sql.Identifier(role), sql.Literal(password)))
    try:
        yield role, password
    finally:
        with connect(url, autocommit=True, application_name="cityhub-bench-query") as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
