"""Coverage (first and last time) and row counts of a dataset, cheaply.

A dataset over one of the time-series tables (its catalogue entry names it under
``statistics``) is never scanned once that table is large (:data:`EXACT_BELOW` rows
or more by the planner, whose figure comes from ``pg_class.reltuples`` of every
partition or chunk): its row count is the planner's estimate for the dataset's view
(``EXPLAIN``), and its coverage the lowest and highest value of the planner's
statistics of the table's time column (``hub.time_statistics``, migration 0015),
both as fresh as the last ANALYZE (autovacuum) and taken over the whole table
(every kind of device); ``exact`` is false. A small table,
and a dataset without ``statistics`` (the device registry), are counted exactly: one
``min``/``max``/``count`` over the view, under a fifth of a second (the console
keeps the figures for a minute).

The SQL is a generator of (query, params) steps, run by :func:`run_sync` or
:func:`run_async`, so the CLI and the console share it; any other plan of the same
shape (hub/datasets/sources.py) runs the same way.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from hub.datasets.catalogue import Dataset

EXACT_BELOW = 500_000
Step = tuple[sql.SQL | sql.Composed, tuple[object, ...]]
Rows = list[tuple[Any, ...]]
T = TypeVar("T")
Plan = Generator[Step, Rows, T]
StatsPlan = Plan["DatasetStats"]


@dataclass(frozen=True, slots=True)
class DatasetStats:
    first: datetime | None
    last: datetime | None
    rows: int
    exact: bool


def _planned_rows(plan: Rows) -> int:
    document = plan[0][0]
    if isinstance(document, str):
        document = json.loads(document)
    return int(document[0]["Plan"]["Plan Rows"])


def dataset_stats(dataset: Dataset, *, exact_below: int = EXACT_BELOW) -> StatsPlan:
    """The plan of *dataset*'s figures; a table of *exact_below* rows or more is not scanned."""
    view = sql.Identifier(*dataset.relation)
    if dataset.statistics is not None:
        table = sql.Identifier(*dataset.statistics)
        size = _planned_rows((yield (sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {}").format(table), ())))
        if size >= exact_below:
            estimate = _planned_rows(
                (yield (sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {}").format(view), ())))
            bounds = yield (sql.SQL("SELECT first, last FROM hub.time_statistics(%s::regclass)"),
                            (".".join(dataset.statistics),))
            first, last = bounds[0]
            return DatasetStats(first, last, estimate, exact=False)
    time = sql.Identifier(dataset.time_column)
    rows = yield (sql.SQL("SELECT min({t}), max({t}), count(*) FROM {v}").format(t=time, v=view), ())
    first, last, count = rows[0]
    return DatasetStats(first, last, int(count), exact=True)


def run_sync(conn: psycopg.Connection[Any], plan: Plan[T]) -> T:
    try:
        step = next(plan)
        while True:
            step = plan.send(conn.execute(step[0], step[1]).fetchall())
    except StopIteration as done:
        result: T = done.value
        return result


async def run_async(conn: psycopg.AsyncConnection[Any], plan: Plan[T]) -> T:
    try:
        step = next(plan)
        while True:
            cur = await conn.execute(step[0], step[1])
            step = plan.send(await cur.fetchall())
    except StopIteration as done:
        result: T = done.value
        return result
