"""Database connections, with psycopg's errors translated at this edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from hub.errors import DatabaseUnavailable

SCHEMA = "hub"


def table(name: str) -> sql.Identifier:
    """The qualified identifier of a hub table, e.g. ``hub.telemetry``."""
    return sql.Identifier(SCHEMA, name)


def connect(
    url: str, *, autocommit: bool = False, application_name: str = "cityhub"
) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(
            url, autocommit=autocommit, application_name=application_name, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"Cannot connect to the database: {_first_line(exc)}") from exc


@contextmanager
def connection(
    url: str, *, application_name: str = "cityhub"
) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection that commits on success and rolls back on error."""
    conn = connect(url, application_name=application_name)
    try:
        with conn:
            yield conn
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"Lost the database connection: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
