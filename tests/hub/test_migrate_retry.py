"""A migration that collides with another database's on the shared roles is tried again;
any other failure is not (pure: a fake connection)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
import pytest

from hub.errors import MigrationError
from hub.migrate import Migration, _apply

MIGRATION = Migration("0099", "grants", None, "GRANT SELECT ON hub.devices TO cityhub_console;")


class FakeConnection:
    """Raises *failures* one by one from the migration's SQL, then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.attempts = 0
        self.recorded: list[tuple[object, ...]] = []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        yield

    def execute(self, query: object, params: tuple[object, ...] | None = None) -> None:
        if params is None:
            self.attempts += 1
            if self.failures:
                raise self.failures.pop(0)
        else:
            self.recorded.append(params)


def apply(conn: FakeConnection) -> None:
    _apply(cast("psycopg.Connection[Any]", conn), MIGRATION, "plain")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hub.migrate.time.sleep", lambda _seconds: None)


def test_a_concurrent_update_of_the_roles_is_tried_again() -> None:
    conn = FakeConnection(psycopg.errors.InternalError_("tuple concurrently updated"))
    apply(conn)
    assert conn.attempts == 2
    assert conn.recorded == [("0099", "grants", "plain", MIGRATION.checksum)]


def test_another_internal_error_is_not_tried_again() -> None:
    conn = FakeConnection(psycopg.errors.InternalError_("could not open relation"))
    with pytest.raises(MigrationError, match="0099_grants failed: could not open relation"):
        apply(conn)
    assert conn.attempts == 1
    assert conn.recorded == []


def test_the_same_words_under_another_sqlstate_are_not_tried_again() -> None:
    conn = FakeConnection(psycopg.errors.DataCorrupted("tuple concurrently updated"))
    with pytest.raises(MigrationError):
        apply(conn)
    assert conn.attempts == 1
