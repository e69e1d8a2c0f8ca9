"""Streaming a dataset's rows from the database to the HTTP response.

The query runs in a read-only transaction on a server-side (named, binary) cursor
held for the whole response; rows are fetched :data:`CHUNK_ROWS` at a time and each
chunk is encoded in a worker thread, so neither memory nor the event loop depends on
the size of the answer. The first chunk is fetched before the response starts, so a
failing query is still an error status, and a page's ``X-Next-Cursor`` is known.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from typing import Any

import psycopg

from hub import timeseries_query
from hub.datasets.formats import BINARY_FORMATS, Encoder, encoder_for, use_epoch_micros
from hub.datasets.request import RowsRequest
from hub.errors import DatabaseUnavailable
from ops_console.db import Pool

CHUNK_ROWS = 50_000


class RowsStream:
    """An open cursor over a request's rows; :meth:`body` streams and then closes it."""

    def __init__(self, request: RowsRequest, stack: AsyncExitStack, cursor: Any,
                 first: Sequence[tuple[Any, ...]]) -> None:
        self.request = request
        self._stack = stack
        self._cursor = cursor
        self._first = list(first)
        self.next_cursor: str | None = None
        if request.limit is not None and len(self._first) > request.limit:
            self._first = self._first[:request.limit]
            self.next_cursor = request.cursor_after(self._first[-1])
        self._encoder: Encoder = encoder_for(request.format, request.output_columns, request.output_types)

    async def body(self) -> AsyncIterator[bytes]:
        try:
            yield await asyncio.to_thread(self._encoder.begin)
            chunk = self._first
            self._first = []
            while True:
                if chunk:
                    yield await asyncio.to_thread(self._encoder.rows, chunk)
                if self.request.paged or len(chunk) < CHUNK_ROWS:
                    break
                chunk = await self._cursor.fetchmany(CHUNK_ROWS)
            yield await asyncio.to_thread(self._encoder.end)
        finally:
            await self.close()

    async def close(self) -> None:
        await self._stack.aclose()


async def open_rows(pool: Pool, request: RowsRequest) -> RowsStream:
    """Run the request's query and fetch its first chunk (a page: ``limit + 1`` rows)."""
    built = timeseries_query.build(request.source(), request.series_query())
    stack = AsyncExitStack()
    try:
        try:
            conn = await stack.enter_async_context(pool.connection())
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"The database is unavailable: {type(exc).__name__}.") from exc
        await stack.enter_async_context(conn.transaction())
        await conn.execute("SET TRANSACTION READ ONLY")
        # Timestamps leave in UTC, whatever the server's or the role's time zone.
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        cursor = conn.cursor(name="dataset_rows", binary=True)
        if request.format in BINARY_FORMATS:
            use_epoch_micros(cursor.adapters)
        stack.push_async_callback(cursor.close)
        await cursor.execute(built.query, built.params)
        first = await cursor.fetchmany(CHUNK_ROWS if request.limit is None else request.limit + 1)
    except BaseException:
        await stack.aclose()
        raise
    return RowsStream(request, stack, cursor, first)
