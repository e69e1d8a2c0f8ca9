"""Throw-away databases for benchmarks and tests: created, optionally migrated, dropped."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from hub.catalogue import Catalogue
from hub.db import connect
from hub.errors import ConfigError
from hub.migrate import migrate

log = logging.getLogger(__name__)


def with_database(url: str, name: str) -> str:
    """*url* (a postgresql:// URL, as CITYHUB_DATABASE_URL is) naming database *name*."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def scratch_database(server_url: str, prefix: str, catalogue: Catalogue | None = None) -> Iterator[str]:
    """A new database on *server_url*'s server (migrated when a catalogue is given),
    dropped on the way out, whatever happens inside."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with connect(server_url, autocommit=True, application_name="cityhub-scratch") as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ConfigError(
                "A throw-away database is needed and this user may not create one; "
                "give a user with CREATEDB (e.g. postgres)."
            ) from exc
    log.info("created database %s", name)
    try:
        url = with_database(server_url, name)
        if catalogue is not None:
            migrate(url, catalogue)
        yield url
    finally:
        with connect(server_url, autocommit=True, application_name="cityhub-scratch") as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        log.info("dropped database %s", name)
