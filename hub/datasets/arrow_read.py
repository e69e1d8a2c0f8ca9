"""Rows from PostgreSQL to Arrow through the ADBC PostgreSQL driver.

The driver runs a query as ``COPY (query) TO STDOUT (FORMAT binary)`` and decodes the
binary rows into Arrow record batches in C, with no Python object per row or value:
about 2.5 times faster than COPY as CSV parsed by pyarrow (docs/benchmarks.md).

Each query runs on a connection of its own, opened with the session settings every
dataset read needs (``options`` in the connection string): read-only transactions,
``TimeZone`` UTC, since buckets of a day start at UTC midnight, and no JIT, which
compiles for 100-200 ms before the first row, more than these scans ever win back.
Opening a connection costs the driver about 80 ms (it reads ``pg_type``), so
:class:`ArrowConnections` keeps the ones that finished cleanly for the next query.

Parameters are bound by psycopg on the client side, as for any ``COPY``: the caller
passes the statement made by ``ClientCursor.mogrify`` on a psycopg connection to the
same server (hub/datasets/export.py, ops_console/dataset_stream.py). Driver errors
become hub errors here; their text, which repeats the statement, is never passed on.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa
from adbc_driver_postgresql import StatementOptions
from psycopg import conninfo

from hub.errors import DatabaseUnavailable, HubError, InvalidInput

log = logging.getLogger(__name__)

BATCH_BYTES = 4 * 1024 * 1024
_SESSION = "-c default_transaction_read_only=on -c TimeZone=UTC -c jit=off"


class QueryFailed(HubError):
    """The database refused a dataset query for a reason that is not the request's."""


def reader_conninfo(url: str, application_name: str) -> str:
    """*url* with the readers' session settings added to any ``options`` it has."""
    given = conninfo.conninfo_to_dict(url).get("options")
    options = f"{given} {_SESSION}" if given else _SESSION
    return conninfo.make_conninfo(url, application_name=application_name, connect_timeout=5,
                                  options=options)


def translate(exc: Exception) -> HubError:
    """A driver error as the hub error a caller can answer with (4xx, 503 or 500)."""
    state = getattr(exc, "sqlstate", None) or ""
    if state.startswith("22"):
        return InvalidInput(f"A value of the request is outside what the database accepts "
                            f"(SQLSTATE {state}).")
    if isinstance(exc, adbc_driver_manager.OperationalError) or state.startswith("08") or not state:
        return DatabaseUnavailable(f"The database is unavailable: {type(exc).__name__}.")
    return QueryFailed(f"The database refused the dataset query (SQLSTATE {state}).")


class ArrowConnections:
    """Open ADBC connections to one database; up to *keep* idle ones are kept.

    Thread-safe: queries run in worker threads. Connections are taken and given back
    by :class:`ArrowRows`; a connection that saw an error or a cancel is closed instead.
    """

    def __init__(self, url: str, application_name: str, keep: int) -> None:
        self._conninfo = reader_conninfo(url, application_name)
        self._keep = keep
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> tuple[Any, bool]:
        """A connection, and whether it was kept (it may have gone stale since)."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        try:
            return adbc.connect(self._conninfo, autocommit=True), False
        except adbc_driver_manager.Error as exc:
            raise translate(exc) from exc

    def give(self, connection: Any) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _close_quietly(connection)


def _close_quietly(resource: Any) -> None:
    try:
        resource.close()
    except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
        log.debug("closing a reader's connection failed: %s", type(exc).__name__)


class ArrowRows:
    """One statement's rows as record batches of *schema*.

    :meth:`start` and :meth:`next_batch` block (run them in a worker thread from async
    code); :meth:`cancel` may be called from any thread while they do; :meth:`close`
    ends it, returning the connection for reuse only if every row was read.
    """

    def __init__(self, connections: ArrowConnections, statement: str, schema: pa.Schema,
                 *, batch_bytes: int | None = None) -> None:
        self._connections = connections
        self._statement = statement
        self._schema = schema
        self._batch_bytes = batch_bytes or BATCH_BYTES
        self._connection: Any = None
        self._cursor: Any = None
        self._reader: pa.RecordBatchReader | None = None
        self.finished = False

    def start(self) -> None:
        """Send the statement; a kept connection found broken is replaced once."""
        for _ in range(2):
            self._connection, kept = self._connections.take()
            try:
                self._cursor = self._connection.cursor()
                self._cursor.adbc_statement.set_options(
                    **{StatementOptions.BATCH_SIZE_HINT_BYTES.value: str(self._batch_bytes)})
                self._cursor.execute(self._statement)
                self._reader = self._cursor.fetch_record_batch()
                return
            except adbc_driver_manager.Error as exc:
                self._discard()
                stale = kept and isinstance(exc, adbc_driver_manager.OperationalError)
                if not stale:
                    raise translate(exc) from exc
                # The server restarted or dropped it: the other kept ones went with it.
                log.info("a kept reader connection had gone stale (%s); opening a new one",
                         type(exc).__name__)
                self._connections.close()
        raise DatabaseUnavailable("The database is unavailable: a new connection broke at once.")

    def next_batch(self) -> pa.RecordBatch | None:
        """The next batch, or None after the last."""
        assert self._reader is not None, "start() first"
        try:
            batch = self._reader.read_next_batch()
        except StopIteration:
            self.finished = True
            return None
        # A server error mid-stream comes through pyarrow's stream as a plain OSError.
        except (adbc_driver_manager.Error, pa.ArrowException, OSError) as exc:
            raise translate(exc) from exc
        # By position: the query's own column names (``?column?``, aliases) do not count.
        return pa.RecordBatch.from_arrays(
            [column.cast(field.type) for column, field in zip(batch.columns, self._schema, strict=True)],
            schema=self._schema)

    def read_all(self) -> pa.Table:
        batches = []
        while (batch := self.next_batch()) is not None:
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=self._schema)

    def cancel(self) -> None:
        """Ask the server to stop the statement (a reader left); reads then fail fast."""
        if self._cursor is not None and not self.finished:
            try:
                self._cursor.adbc_cancel()
            except adbc_driver_manager.Error as exc:
                log.debug("cancelling a dataset query failed: %s", type(exc).__name__)

    def close(self) -> None:
        if self._connection is None:
            return
        if not self.finished:
            self._discard()
            return
        connection = self._connection
        self._release()
        self._connections.give(connection)

    def _release(self) -> None:
        for resource in (self._reader, self._cursor):
            if resource is not None:
                _close_quietly(resource)
        self._reader = self._cursor = self._connection = None

    def _discard(self) -> None:
        connection = self._connection
        self._release()
        if connection is not None:
            _close_quietly(connection)
