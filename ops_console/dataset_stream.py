"""Streaming a dataset's rows from the database to the HTTP response.

The query runs in a read-only transaction as ``COPY (query) TO STDOUT`` on a pooled
connection held for the whole response (hub/datasets/copy_arrow.py): the event loop
only joins the rows the server sends into blocks of a few MiB, and a worker thread
parses each block into Arrow and encodes it (Parquet, Arrow IPC, CSV or JSON lines)
while the loop reads the next, so neither memory nor the event loop depends on the
size of the answer, and no Python object is made per row. The first block is read
before the response starts, so a failing query is still an error status; a page
(``limit`` + 1 rows at most) is read whole, so its ``X-Next-Cursor`` is known.

When the client goes away mid-stream the body generator is closed: the COPY is
cancelled on the server and drained, the transaction ends and the connection goes
back to the pool clean.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import psycopg
import pyarrow as pa

from hub import timeseries_query
from hub.datasets.copy_arrow import copy_blocks, parse_block
from hub.datasets.export import query_schema
from hub.datasets.formats import Encoder, encoder_for
from hub.datasets.request import RowsRequest
from hub.errors import DatabaseUnavailable
from ops_console.db import Pool


class RowsStream:
    """An open COPY over a request's rows; :meth:`body` streams and then closes it."""

    def __init__(self, request: RowsRequest, stack: AsyncExitStack, schema: pa.Schema,
                 first: pa.Table, rest: AsyncIterator[bytes] | None) -> None:
        self.request = request
        self._stack = stack
        self._schema = schema
        self._first = first
        self._rest = rest
        self._reading: asyncio.Future[bytes | None] | None = None
        self.next_cursor: str | None = None
        if request.limit is not None and first.num_rows > request.limit:
            self._first = first.slice(0, request.limit)
            last = self._first.slice(request.limit - 1, 1).to_pylist()[0]
            self.next_cursor = request.cursor_after([last[n] for n in schema.names])
        self._encoder: Encoder = encoder_for(request.format, request.output_columns, request.output_types)

    def _encode(self, block: bytes) -> bytes:
        return self._encoder.rows(parse_block(block, self._schema))

    async def body(self) -> AsyncIterator[bytes]:
        pending: asyncio.Future[bytes] | None = None
        try:
            yield await asyncio.to_thread(self._encoder.begin)
            first, self._first = self._first, self._schema.empty_table()
            yield await asyncio.to_thread(self._encoder.rows, first)
            while (block := await self._next_block()) is not None:
                # The loop read this block while a thread encoded the one before; the
                # encoder is not thread-safe, so one block at a time is encoded.
                if pending is not None:
                    done, pending = pending, None
                    yield await done
                pending = asyncio.ensure_future(asyncio.to_thread(self._encode, block))
            if pending is not None:
                done, pending = pending, None
                yield await done
            yield await asyncio.to_thread(self._encoder.end)
        finally:
            # A client that goes away cancels this generator (Starlette's cancel scope).
            # The clean-up must run to its end all the same, or psycopg gives up on the
            # COPY and closes the connection instead of returning it to the pool.
            with anyio.CancelScope(shield=True):
                waiting = [f for f in (pending, self._reading) if f is not None]
                if waiting:
                    await asyncio.wait(waiting)
                await self.close()

    async def _next_block(self) -> bytes | None:
        """The next block of the COPY, read in a task of its own: a cancelled response
        never interrupts psycopg in the middle of a read."""
        if self._rest is None:
            return None
        self._reading = asyncio.ensure_future(anext(self._rest, None))
        block = await asyncio.shield(self._reading)
        self._reading = None
        return block

    async def close(self) -> None:
        await self._stack.aclose()


async def _read_all(blocks: AsyncIterator[bytes], schema: pa.Schema) -> pa.Table:
    tables = [await asyncio.to_thread(parse_block, block, schema) async for block in blocks]
    return pa.concat_tables(tables) if tables else schema.empty_table()


async def open_rows(pool: Pool, request: RowsRequest) -> RowsStream:
    """Start the request's COPY and read its first block (a page: all of it)."""
    built = timeseries_query.build(request.source(), request.series_query())
    schema = query_schema(request, built)
    stack = AsyncExitStack()
    try:
        try:
            conn: Any = await stack.enter_async_context(pool.connection())
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"The database is unavailable: {type(exc).__name__}.") from exc
        await stack.enter_async_context(conn.transaction())
        await conn.execute("SET TRANSACTION READ ONLY")
        # Timestamps leave in UTC and ISO form, whatever the server's or the role's settings.
        await conn.execute("SET LOCAL TimeZone = 'UTC'")
        await conn.execute("SET LOCAL DateStyle = 'ISO'")
        # JIT compiles for 100-200 ms before the first row; these scans never win that back.
        await conn.execute("SET LOCAL jit = off")
        blocks = copy_blocks(conn, built)
        stack.push_async_callback(blocks.aclose)
        if request.paged:
            return RowsStream(request, stack, schema, await _read_all(blocks, schema), None)
        block = await anext(blocks, b"")
        first = await asyncio.to_thread(parse_block, block, schema)
    except BaseException:
        await stack.aclose()
        raise
    return RowsStream(request, stack, schema, first, blocks)
