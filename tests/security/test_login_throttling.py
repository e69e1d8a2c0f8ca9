"""Password guessing on the console: throttled per user (from one address) and per address
(over all names), against a console with low limits, and not fooled by forged headers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from hub.settings import load_settings
from ops_console.app import create_app
from ops_console.testing import ConsoleServer, serve
from tests import console_users
from tests.console_users import login
from tests.helpers import Conn

pytestmark = pytest.mark.integration

PER_USER, PER_ADDRESS = 2, 3


@pytest.fixture(scope="module")
def strict(database_url: str) -> Iterator[ConsoleServer]:
    settings = load_settings({}, database_url=database_url, secret_key=secrets.token_urlsafe(32),
                             login_max_failures=PER_USER, login_address_max_failures=PER_ADDRESS)
    with serve(create_app(settings)) as server:
        yield server


def new_user(db: Conn) -> tuple[str, str]:
    return console_users.new_user(db, "admin", "sec")


def test_guessing_one_users_password_is_throttled(strict: ConsoleServer, db: Conn) -> None:
    username, password = new_user(db)
    ip = f"127.0.1.{secrets.randbelow(200) + 20}"
    for n in range(PER_USER):
        # A forged client address must not make each guess look like a new guesser.
        forged = {"X-Forwarded-For": f"203.0.113.{n + 1}", "Forwarded": f"for=198.51.100.{n + 1}"}
        assert login(strict, username, "wrong", ip, forged).status_code == 401
    refused = login(strict, username, password, ip)  # even the right password now waits
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "access_token" not in refused.text
    # The owner, elsewhere, is not locked out by the guesser.
    assert login(strict, username, password, "127.0.2.1").status_code == 200


def test_one_address_guessing_many_users_is_throttled(strict: ConsoleServer, db: Conn) -> None:
    ip = f"127.0.3.{secrets.randbelow(200) + 20}"
    for _ in range(PER_ADDRESS):
        assert login(strict, f"nobody-{secrets.token_hex(3)}", "wrong", ip).status_code == 401
    username, password = new_user(db)
    refused = login(strict, username, password, ip)  # a name it never tried, the right password
    assert refused.status_code == 429
    assert "access_token" not in refused.text
    assert login(strict, username, password, "127.0.4.1").status_code == 200
