"""Which telemetry partition a batch can be COPYed into directly.

On the plain-PostgreSQL profile a COPY into hub.telemetry inserts its rows one by one
(its rollup trigger has a transition table), while a COPY into one partition inserts
them in batches; migration 0007 gives every partition the rollup trigger of its own.
Ingest therefore COPYs a batch whose readings all fall in one partition straight into
it. Only partitions with that trigger, and that this login may insert into, are
candidates; on TimescaleDB there are none (its chunks are no partitions), so ingest
writes through hub.telemetry there, as it does for a batch spanning two partitions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

import psycopg

_TIME = itemgetter(0)

# The bounds as PostgreSQL prints them: FOR VALUES FROM ('…') TO ('…').
_SQL = r"""
SELECT c.relname,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''(.*?)''\)'))[1]::timestamptz,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''(.*?)''\)'))[1]::timestamptz
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'hub.telemetry'::regclass
  AND c.relpartbound IS NOT NULL
  AND has_table_privilege(c.oid, 'INSERT')
  AND EXISTS (SELECT 1 FROM pg_trigger t
              WHERE t.tgrelid = c.oid AND t.tgname = 'telemetry_rollup_direct'
                AND t.tgenabled <> 'D')
"""


@dataclass(frozen=True, slots=True)
class Partition:
    name: str  # in the hub schema
    lower: datetime  # inclusive
    upper: datetime  # exclusive


def read_partitions(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[Partition, ...]:
    rows = conn.execute(_SQL).fetchall()
    return tuple(sorted(
        (Partition(str(name), lower, upper) for name, lower, upper in rows
         if isinstance(lower, datetime) and isinstance(upper, datetime)),
        key=lambda p: p.lower,
    ))


def partition_for(partitions: Sequence[Partition],
                  rows: Sequence[tuple[datetime, *tuple[object, ...]]]) -> Partition | None:
    """The partition holding every one of *rows* (non-empty), if there is one."""
    earliest: datetime = min(map(_TIME, rows))
    latest: datetime = max(map(_TIME, rows))
    for p in partitions:
        if p.lower <= earliest and latest < p.upper:
            return p
    return None
