"""Writing a dataset's rows to a file straight from the database (``cityhub export``):
the same query layer, Arrow reader and encoders as the HTTP route."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, BinaryIO

import psycopg
import pyarrow as pa

from hub import timeseries_query
from hub.datasets.arrow_read import ArrowConnections, ArrowRows
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


def statement(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any],
              built: timeseries_query.BuiltQuery) -> str:
    """The query with its parameters bound by psycopg, for the Arrow reader (whose
    ``COPY`` takes none), escaped as *conn*'s server expects."""
    if isinstance(conn, psycopg.AsyncConnection):
        return psycopg.AsyncClientCursor(conn).mogrify(built.query, built.params)
    return psycopg.ClientCursor(conn).mogrify(built.query, built.params)


def export_rows(conn: psycopg.Connection[Any], url: str, request: RowsRequest, sink: BinaryIO,
                progress: Callable[[int], None] = lambda n: None) -> int:
    """Write every row of *request* to *sink* in its format; return the number of rows.
    *conn* binds the parameters; the rows come over a reader's connection to *url*."""
    built = timeseries_query.build(request.source(), request.series_query())
    rows = ArrowRows(ArrowConnections(url, "cityhub-export", keep=0), statement(conn, built),
                     query_schema(request, built))
    encoder = encoder_for(request.format, request.output_columns, request.output_types)
    total = 0
    try:
        rows.start()
        sink.write(encoder.begin())
        while (batch := rows.next_batch()) is not None:
            sink.write(encoder.rows(pa.Table.from_batches([batch])))
            total += batch.num_rows
            progress(batch.num_rows)
        sink.write(encoder.end())
    finally:
        rows.close()
    return total
