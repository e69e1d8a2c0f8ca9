"""Coverage (first and last time) and row counts of a dataset, cheaply.

A dataset the planner expects to be small (under :data:`EXACT_BELOW` rows) is
counted exactly: one ``min``/``max``/``count`` over the view. A larger one is not
scanned: its row count is the planner's estimate for the view (``EXPLAIN``, fed by
``pg_class.reltuples`` of every partition or chunk) and its coverage the lowest and
highest bound of the planner's statistics (``pg_stats``) of the time column over the
table's partitions (plain profile) or chunks (TimescaleDB) — both are inheritance
children, so the same SQL serves both profiles. Those figures are as fresh as the
last ANALYZE (autovacuum); ``exact`` says which kind a figure is.

The SQL is a generator of (query, params) steps, run by :func:`run_sync` or
:func:`run_async`, so the CLI and the console share it.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from hub.datasets.catalogue import Dataset

EXACT_BELOW = 2_000_000
Step = tuple[sql.SQL | sql.Composed, tuple[object, ...]]
Rows = list[tuple[Any, ...]]
StatsPlan = Generator[Step, Rows, "DatasetStats"]


@dataclass(frozen=True, slots=True)
class DatasetStats:
    first: datetime | None
    last: datetime | None
    rows: int
    exact: bool


# Bounds of the time column's statistics over the table and its inheritance children.
_BOUNDS = sql.SQL(
    "SELECT min(b[1]), max(b[array_upper(b, 1)]) FROM ("
    " SELECT coalesce(s.histogram_bounds, s.most_common_vals)::text::timestamptz[] AS b"
    " FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename"
    " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname"
    " WHERE s.attname = %s AND (c.oid = %s::regclass OR c.oid IN ("
    "  SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass))) x"
)


def dataset_stats(dataset: Dataset) -> StatsPlan:
    view = sql.Identifier(*dataset.relation)
    time = sql.Identifier(dataset.time_column)
    plan = yield (sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {}").format(view), ())
    document = plan[0][0]
    if isinstance(document, str):
        document = json.loads(document)
    estimate = int(document[0]["Plan"]["Plan Rows"])
    if dataset.statistics is None or estimate < EXACT_BELOW:
        rows = yield (sql.SQL("SELECT min({t}), max({t}), count(*) FROM {v}").format(t=time, v=view), ())
        first, last, count = rows[0]
        return DatasetStats(first, last, int(count), exact=True)
    schema, table, column = dataset.statistics
    qualified = f"{schema}.{table}"
    rows = yield (_BOUNDS, (column, qualified, qualified))
    first, last = rows[0]
    return DatasetStats(first, last, estimate, exact=False)


def run_sync(conn: psycopg.Connection[Any], plan: StatsPlan) -> DatasetStats:
    try:
        step = next(plan)
        while True:
            step = plan.send(conn.execute(step[0], step[1]).fetchall())
    except StopIteration as done:
        result: DatasetStats = done.value
        return result


async def run_async(conn: psycopg.AsyncConnection[Any], plan: StatsPlan) -> DatasetStats:
    try:
        step = next(plan)
        while True:
            cur = await conn.execute(step[0], step[1])
            step = plan.send(await cur.fetchall())
    except StopIteration as done:
        result: DatasetStats = done.value
        return result
