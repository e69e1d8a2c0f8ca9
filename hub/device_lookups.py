"""Broker logins' device rows, looked up in batches: one query for the logins waiting together.

In a reconnect storm EMQX asks about thousands of logins a second, each needing its
device's row (hub/mqtt_access.py). One query per login cost the console more CPU than
the rest of the check: a pooled connection, psycopg's statement round, a wake-up for the
answer. Here a login whose look-up finds another one running waits for the next, which
fetches the rows of every login waiting by then in one query: under load one query
serves many logins, and a lone login gets its own query at once (no timer, never a wait
beyond the query already running).

Nothing is cached: each row comes from a query that started after its login arrived, so
a device revoked or given a new token is refused from its next login on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from hub.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

DeviceRow = tuple[str, str, str]  # kind, status, token hash
Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]

MAX_BATCH = 500  # ids per query; more waiting go in the next
_QUERY = sql.SQL("SELECT id, kind, status, token_hash FROM hub.devices WHERE id = ANY(%s)")

_Waiting = dict[str, list[asyncio.Future[DeviceRow | None]]]


def _possible_id(device_id: str) -> bool:
    """Could a device have this id? PostgreSQL text holds no NUL and no lone surrogate; one
    such id must not fail the query that other logins share."""
    if "\x00" in device_id:
        return False
    try:
        device_id.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class DeviceLookups:
    """Device rows by id for concurrent logins, a batch per query, on connections from
    *connect* (a pool's ``connection``)."""

    def __init__(self, connect: Connect, max_batch: int = MAX_BATCH) -> None:
        self.connect = connect
        self.max_batch = max_batch
        self.queries = 0  # batches sent, for tests and benchmarks
        self._waiting: _Waiting = {}
        self._runner: asyncio.Task[None] | None = None

    async def find(self, device_id: str) -> DeviceRow | None:
        """The device's (kind, status, token hash), or None when no device has this id.

        Raises :class:`DatabaseUnavailable` when the database cannot be reached."""
        if not _possible_id(device_id):
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[DeviceRow | None] = loop.create_future()
        self._waiting.setdefault(device_id, []).append(future)
        if self._runner is None:
            self._runner = loop.create_task(self._run(), name="device-lookups")
        return await future

    def _take(self) -> _Waiting:
        if len(self._waiting) <= self.max_batch:
            batch, self._waiting = self._waiting, {}
            return batch
        ids = list(self._waiting)[:self.max_batch]
        return {i: self._waiting.pop(i) for i in ids}

    async def _run(self) -> None:
        batch: _Waiting = {}
        try:
            while self._waiting:
                try:
                    # One connection for as long as logins keep coming.
                    async with self.connect() as conn:
                        while self._waiting:
                            batch = self._take()
                            _answer(batch, await self._fetch(conn, list(batch)))
                            batch = {}
                except psycopg.OperationalError as exc:
                    # A new exception per login: each is raised in its own request.
                    reason = f"The database is unavailable: {type(exc).__name__}."
                    for future in _pending(batch or self._take()):
                        future.set_exception(DatabaseUnavailable(reason))
                except Exception as exc:
                    failed = _pending(batch or self._take())
                    log.error("device look-up of %d login(s) failed: %s", len(failed), type(exc).__name__)
                    for future in failed:
                        future.set_exception(exc)
                batch = {}
        finally:
            self._runner = None
            # Cancelled (the app is stopping): nobody is left waiting for ever.
            leftover, self._waiting = self._waiting, {}
            for future in _pending(batch) + _pending(leftover):
                future.cancel()

    async def _fetch(self, conn: psycopg.AsyncConnection[Any], ids: list[str]) -> dict[str, DeviceRow]:
        self.queries += 1
        async with conn.cursor(row_factory=tuple_row) as cur:
            await cur.execute(_QUERY, (ids,), prepare=True)
            return {str(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in await cur.fetchall()}


def _answer(batch: _Waiting, rows: dict[str, DeviceRow]) -> None:
    for device_id, futures in batch.items():
        row = rows.get(device_id)
        for future in futures:
            if not future.done():  # its request may have been cancelled
                future.set_result(row)


def _pending(batch: _Waiting) -> list[asyncio.Future[DeviceRow | None]]:
    """The futures of *batch* still unanswered (a cancelled request's is done)."""
    return [f for futures in batch.values() for f in futures if not f.done()]
