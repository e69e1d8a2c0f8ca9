"""Writing a dataset's rows to a file straight from the database (``cityhub export``):
the same query layer, COPY reader and encoders as the HTTP route."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, BinaryIO

import psycopg
import pyarrow as pa

from hub import timeseries_query
from hub.datasets.copy_arrow import copy_blocks_sync, parse_block
from hub.datasets.formats import arrow_schema, encoder_for
from hub.datasets.request import RowsRequest


def query_schema(request: RowsRequest, built: timeseries_query.BuiltQuery) -> pa.Schema:
    """Arrow types of the query's output columns (a page's extra key columns too)."""
    known = dict(zip(request.output_columns, request.output_types, strict=True))
    types = []
    for name in built.columns:
        column = request.dataset.column(name)
        types.append(known.get(name, column.type if column else "text"))
    return arrow_schema(built.columns, types)


def estimate_rows(conn: psycopg.Connection[Any], request: RowsRequest) -> int:
    """The planner's estimate of the request's row count (for a progress bar)."""
    built = timeseries_query.build(request.source(), request.series_query())
    row = conn.execute(psycopg.sql.SQL("EXPLAIN (FORMAT JSON) {}").format(built.query),
                       built.params).fetchone()
    assert row is not None
    document = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return int(document[0]["Plan"]["Plan Rows"])


def export_rows(conn: psycopg.Connection[Any], request: RowsRequest, sink: BinaryIO,
                progress: Callable[[int], None] = lambda n: None) -> int:
    """Write every row of *request* to *sink* in its format; return the number of rows."""
    built = timeseries_query.build(request.source(), request.series_query())
    schema = query_schema(request, built)
    encoder = encoder_for(request.format, request.output_columns, request.output_types)
    total = 0
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        conn.execute("SET LOCAL DateStyle = 'ISO'")
        conn.execute("SET LOCAL jit = off")  # as in ops_console/dataset_stream.py
        sink.write(encoder.begin())
        for block in copy_blocks_sync(conn, built):
            table = parse_block(block, schema)
            sink.write(encoder.rows(table))
            total += table.num_rows
            progress(table.num_rows)
        sink.write(encoder.end())
    return total
