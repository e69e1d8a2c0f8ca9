"""Streaming a dataset's rows from the database to the HTTP response.

The query's parameters are bound on a pooled psycopg connection; the rows come over an
ADBC connection of the console's :class:`ArrowConnections` as Arrow record batches
(hub/datasets/arrow_read.py). Every blocking call of the reader runs in a worker
thread, and so does encoding each batch (Parquet, Arrow IPC, CSV or JSON lines) while
the next is read, so neither memory nor the event loop depends on the size of the
answer, and no Python object is made per row. The first batch is read before the
response starts, so a failing query is still an error status; a page (``limit`` + 1
rows at most) is read whole, so its ``X-Next-Cursor`` is known.

When the client goes away mid-stream the body generator is closed: the query is
cancelled on the server, the reader's call in progress is awaited, and the connection
is closed (only one read to its end is kept for the next request). At most
``console_pool_size`` streams read at once; the others wait for a slot, up to
:data:`SLOT_WAIT_S`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
import psycopg
import pyarrow as pa

from hub import timeseries_query
from hub.datasets.arrow_read import ArrowConnections, ArrowRows
from hub.datasets.export import query_schema, statement
from hub.datasets.formats import Encoder, encoder_for
from hub.datasets.request import RowsRequest
from hub.errors import DatabaseUnavailable
from ops_console.db import Pool

SLOT_WAIT_S = 10.0
T = TypeVar("T")


class Readers:
    """The console's reader connections and the slots that bound the streams at once."""

    def __init__(self, url: str, size: int) -> None:
        self.connections = ArrowConnections(url, "cityhub-console-datasets", keep=size)
        self._slots = asyncio.Semaphore(size)

    async def acquire(self) -> None:
        try:
            await asyncio.wait_for(self._slots.acquire(), SLOT_WAIT_S)
        except TimeoutError:
            raise DatabaseUnavailable("Every dataset reader is busy; try again shortly.") from None

    def release(self) -> None:
        self._slots.release()


class _Reading:
    """An :class:`ArrowRows` driven from the event loop; a call in progress is never
    interrupted, since the driver's state would be left half-way."""

    def __init__(self, readers: Readers, rows: ArrowRows) -> None:
        self._readers = readers
        self.rows = rows
        self._busy: asyncio.Future[Any] | None = None
        self._closed = False

    async def call(self, work: Callable[[], T]) -> T:
        busy = asyncio.ensure_future(asyncio.to_thread(work))
        self._busy = busy
        result = await asyncio.shield(busy)
        self._busy = None
        return result

    async def close(self) -> None:
        """Cancel what is still running, wait for the reader's call, end it; shielded, as
        a client that goes away cancels the response's task. Once only."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            try:
                # Also between two reads: the server may still be working on rows.
                if not self.rows.finished:
                    await asyncio.to_thread(self.rows.cancel)
                busy = self._busy
                if busy is not None:
                    await asyncio.wait([busy])
                    if not busy.cancelled():
                        busy.exception()  # the cancel's error, expected: retrieved, not logged
                await asyncio.to_thread(self.rows.close)
            finally:
                self._readers.release()


class RowsStream:
    """A started query over a request's rows; :meth:`body` streams and then closes it."""

    def __init__(self, request: RowsRequest, reading: _Reading, first: pa.Table) -> None:
        self.request = request
        self._reading = reading
        self._first = first
        self.next_cursor: str | None = None
        if request.limit is not None and first.num_rows > request.limit:
            self._first = first.slice(0, request.limit)
            last = self._first.slice(request.limit - 1, 1).to_pylist()[0]
            self.next_cursor = request.cursor_after([last[n] for n in first.schema.names])
        self._encoder: Encoder = encoder_for(request.format, request.output_columns, request.output_types)

    async def _next_batch(self) -> pa.RecordBatch | None:
        rows = self._reading.rows
        return None if rows.finished else await self._reading.call(rows.next_batch)

    def _encode(self, batch: pa.RecordBatch) -> bytes:
        return self._encoder.rows(pa.Table.from_batches([batch]))

    async def body(self) -> AsyncIterator[bytes]:
        pending: asyncio.Future[bytes] | None = None
        try:
            yield await asyncio.to_thread(self._encoder.begin)
            first, self._first = self._first, self._first.schema.empty_table()
            yield await asyncio.to_thread(self._encoder.rows, first)
            while (batch := await self._next_batch()) is not None:
                # One thread reads this batch while another encodes the one before; the
                # encoder is not thread-safe, so one batch at a time is encoded.
                if pending is not None:
                    done, pending = pending, None
                    yield await done
                pending = asyncio.ensure_future(asyncio.to_thread(self._encode, batch))
            if pending is not None:
                done, pending = pending, None
                yield await done
            yield await asyncio.to_thread(self._encoder.end)
        finally:
            # A client that goes away cancels this generator (Starlette's cancel scope):
            # the encoding in progress must end before the reader is closed.
            with anyio.CancelScope(shield=True):
                if pending is not None:
                    await asyncio.wait([pending])
                await self.close()

    async def close(self) -> None:
        """End the query (idempotent): also the response's background task, for a client
        that left before the body was first read, when its ``finally`` never runs."""
        await self._reading.close()


async def open_rows(pool: Pool, readers: Readers, request: RowsRequest) -> RowsStream:
    """Start the request's query and read its first batch (a page: all of it)."""
    built = timeseries_query.build(request.source(), request.series_query())
    try:
        async with pool.connection() as conn:
            bound = statement(conn, built)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"The database is unavailable: {type(exc).__name__}.") from exc
    schema = query_schema(request, built)
    await readers.acquire()
    reading = _Reading(readers, ArrowRows(readers.connections, bound, schema))
    try:
        await reading.call(reading.rows.start)
        if request.paged:
            return RowsStream(request, reading, await reading.call(reading.rows.read_all))
        batch = await reading.call(reading.rows.next_batch)
        return RowsStream(request, reading, pa.Table.from_batches([] if batch is None else [batch],
                                                                  schema=schema))
    except BaseException:
        await reading.close()
        raise
