"""The console's database pool (opened in the app's lifespan) and request dependencies.

Endpoints take ``conn: DbConn``: a pooled ``AsyncConnection`` in autocommit mode,
so each statement stands alone. Wrap writes that belong together (an action and
its audit row) in ``async with conn.transaction():`` — it commits at the end of
the block, before the response is sent, and rolls back if the block raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from hub.errors import DatabaseUnavailable
from hub.settings import Settings

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
Pool = AsyncConnectionPool[AsyncConn]


def make_pool(settings: Settings) -> Pool:
    """An unopened pool; the lifespan opens and closes it."""
    return AsyncConnectionPool(
        settings.require_database(),
        min_size=1,
        max_size=settings.console_pool_size,
        open=False,
        timeout=10.0,
        kwargs={"application_name": "cityhub-console", "connect_timeout": 5, "autocommit": True},
        name="cityhub-console",
    )


def make_read_pool(settings: Settings) -> Pool | None:
    """An unopened pool on CITYHUB_REPLICA_DATABASE_URL for the datasets routes; None
    without one (they then share the primary's pool)."""
    if settings.replica_database_url is None:
        return None
    return AsyncConnectionPool(
        settings.replica_database_url,
        min_size=1,
        max_size=settings.console_pool_size,
        open=False,
        timeout=10.0,
        kwargs={"application_name": "cityhub-console-reads", "connect_timeout": 5, "autocommit": True},
        name="cityhub-console-reads",
    )


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def get_read_pool(request: Request) -> Pool:
    """The replica's pool when CITYHUB_REPLICA_DATABASE_URL is set, else the primary's."""
    pool: Pool | None = getattr(request.app.state, "read_pool", None)
    return pool if pool is not None else get_pool(request)


async def get_conn(request: Request) -> AsyncIterator[AsyncConn]:
    try:
        async with get_pool(request).connection() as conn:
            yield conn
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"The database is unavailable: {type(exc).__name__}.") from exc


async def get_read_conn(request: Request) -> AsyncIterator[AsyncConn]:
    try:
        async with get_read_pool(request).connection() as conn:
            yield conn
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"The database is unavailable: {type(exc).__name__}.") from exc


SettingsDep = Annotated[Settings, Depends(get_settings)]
# "function" scope: the connection goes back to the pool before the response is sent.
DbConn = Annotated[AsyncConn, Depends(get_conn, scope="function")]
# The data scientists' reads: on the replica when there is one.
ReadConn = Annotated[AsyncConn, Depends(get_read_conn, scope="function")]
