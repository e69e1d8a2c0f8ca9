"""Writing and dropping the open-schema tables of releases: ``anon.<dataset>_v<n>`` and the
view ``anon.<dataset>`` on the latest live version. Rows go in with COPY; SQL only through
psycopg.sql. Runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from analytics.privacy.errors import ReleaseRefused

Conn = psycopg.Connection[tuple[Any, ...]]
# The roles that read the open schema: data scientists' SQL, and the console's datasets API.
READERS = ("cityhub_analyst", "cityhub_console")
_PG_TYPES = {"timestamp": "timestamptz", "bigint": "bigint", "double": "double precision",
             "boolean": "boolean", "text": "text"}


def column_types(table: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """(name, catalogue type) of each column, from its dtype."""
    out = []
    for name in table.columns:
        dtype = table[name].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            kind = "timestamp"
        elif pd.api.types.is_bool_dtype(dtype):
            kind = "boolean"
        elif pd.api.types.is_integer_dtype(dtype):
            kind = "bigint"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "double"
        else:
            kind = "text"
        out.append((str(name), kind))
    return tuple(out)


def _rows(table: pd.DataFrame, types: tuple[tuple[str, str], ...]) -> Iterator[tuple[object, ...]]:
    columns: list[list[object]] = []
    for name, kind in types:
        series = table[name]
        if kind == "timestamp":
            if series.dt.tz is None:
                raise ReleaseRefused(f"Column {name!r} holds times without a time zone; releases store UTC.")
            columns.append([None if pd.isna(t) else t.to_pydatetime() for t in series])
        else:
            columns.append([None if pd.isna(v) else v for v in series.tolist()])
    return zip(*columns, strict=True)


def existing_kind(conn: Conn, relation: str) -> str | None:
    """'r', 'v' … of anon.<relation>, or None."""
    row = conn.execute("SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = 'anon' AND c.relname = %s", (relation,)).fetchone()
    return str(row[0]) if row else None


def write_table(conn: Conn, table: str, frame: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """Create anon.<table> from *frame* and fill it by COPY; returns its column types."""
    types = column_types(frame)
    target = sql.Identifier("anon", table)
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(_PG_TYPES[t])) for n, t in types)))
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
            target, sql.SQL(", ").join(sql.Identifier(n) for n, _ in types))) as copy:
        for row in _rows(frame, types):
            copy.write_row(row)
    conn.execute(sql.SQL("ANALYZE {}").format(target))
    _grant(conn, table)
    return types


def point_view(conn: Conn, dataset: str, table: str | None) -> None:
    """Make anon.<dataset> show anon.<table>; None drops the view (no live version left)."""
    view = sql.Identifier("anon", dataset)
    conn.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(view))
    if table is None:
        return
    conn.execute(sql.SQL("CREATE VIEW {} AS SELECT * FROM {}").format(view, sql.Identifier("anon", table)))
    _grant(conn, dataset)


def drop_table(conn: Conn, table: str) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("anon", table)))


def _grant(conn: Conn, relation: str) -> None:
    conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
        sql.Identifier("anon", relation), sql.SQL(", ").join(map(sql.Identifier, READERS))))
