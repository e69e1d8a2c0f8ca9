"""Writing a dataset's rows to a file straight from the database (``cityhub export``):
the same query layer and encoders as the HTTP route, on a server-side cursor."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, BinaryIO

import psycopg

from hub import timeseries_query
from hub.datasets.formats import BINARY_FORMATS, encoder_for, use_epoch_micros
from hub.datasets.request import RowsRequest

CHUNK_ROWS = 50_000


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
    encoder = encoder_for(request.format, request.output_columns, request.output_types)
    total = 0
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        with conn.cursor(name="dataset_export", binary=True) as cursor:
            if request.format in BINARY_FORMATS:
                use_epoch_micros(cursor.adapters)
            cursor.execute(built.query, built.params)
            sink.write(encoder.begin())
            while chunk := cursor.fetchmany(CHUNK_ROWS):
                sink.write(encoder.rows(chunk))
                total += len(chunk)
                progress(len(chunk))
            sink.write(encoder.end())
    return total
