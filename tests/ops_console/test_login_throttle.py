"""Login throttling under concurrency, growing waits, and client addresses behind proxies."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import httpx
import pytest

from hub.settings import Settings, load_settings
from ops_console.app import create_app
from ops_console.testing import ConsoleServer, serve
from tests.console_users import login, new_user
from tests.helpers import Conn

pytestmark = pytest.mark.integration

PROXY = "127.0.0.9"  # the trusted reverse proxy of the `proxied` console
ADDRESS_LIMIT = 6


@pytest.fixture(scope="module")
def proxied(database_url: str) -> Iterator[ConsoleServer]:
    """A console behind a trusted proxy at 127.0.0.9, with a low per-address limit and a first
    wait of an hour (so no test's outcome depends on how fast a loaded machine runs it)."""
    settings = load_settings({}, database_url=database_url, secret_key=secrets.token_urlsafe(32),
                             trusted_proxies=f"{PROXY}/32, 10.0.0.0/8",
                             login_address_max_failures=ADDRESS_LIMIT, login_delay_seconds=3600)
    with serve(create_app(settings)) as server:
        yield server


def recorded_addresses(db: Conn, username: str) -> list[str]:
    rows = db.execute("SELECT details->>'client_ip' FROM hub.audit_log WHERE target = %s "
                      "AND action LIKE 'auth.login%%' ORDER BY id", (username,)).fetchall()
    return [str(r[0]) for r in rows]


async def _guess_at_once(server: ConsoleServer, username: str, ip: str, count: int) -> list[int]:
    transport = httpx.AsyncHTTPTransport(local_address=ip)
    async with httpx.AsyncClient(base_url=server.base_url, transport=transport, timeout=60.0) as client:
        answers = await asyncio.gather(*(
            client.post("/api/v1/auth/login", json={"username": username, "password": f"guess-{n}"})
            for n in range(count)))
    return [a.status_code for a in answers]


def test_concurrent_guesses_are_checked_no_more_than_the_limit(
    console_server: ConsoleServer, console_settings: Settings, db: Conn
) -> None:
    username, _ = new_user(db)
    statuses = asyncio.run(_guess_at_once(console_server, username, "127.0.0.61", 16))
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) == console_settings.login_max_failures
    assert statuses.count(429) == 16 - console_settings.login_max_failures
    checked = db.execute("SELECT count(*) FROM hub.login_attempts WHERE username = %s",
                         (username,)).fetchone()
    assert checked == (console_settings.login_max_failures,)


def test_each_further_failure_doubles_the_wait(console_server: ConsoleServer, db: Conn) -> None:
    username, password = new_user(db)
    ip = "127.0.0.62"
    for _ in range(5):
        assert login(console_server, username, "wrong-password", ip).status_code == 401
    first = login(console_server, username, "wrong-password", ip)
    assert first.status_code == 429
    assert 1 <= int(first.headers["retry-after"]) <= 30

    def let_wait_pass() -> None:
        # The database's clock decides; move the last failure back instead of sleeping.
        db.execute("UPDATE hub.login_throttle SET last_failure = last_failure - interval '1 hour' "
                   "WHERE username = %s AND client_ip = %s", (username, ip))

    let_wait_pass()
    assert login(console_server, username, "wrong-password", ip).status_code == 401
    second = login(console_server, username, password, ip)
    assert second.status_code == 429
    assert 30 < int(second.headers["retry-after"]) <= 60
    let_wait_pass()
    assert login(console_server, username, "wrong-password", ip).status_code == 401
    assert 60 < int(login(console_server, username, password, ip).headers["retry-after"]) <= 120
    let_wait_pass()
    # The right password still works once the wait is over, and clears the count.
    assert login(console_server, username, password, ip).status_code == 200
    assert login(console_server, username, "wrong-password", ip).status_code == 401


def test_an_attackers_failures_do_not_lock_out_another_address(
    proxied: ConsoleServer, db: Conn
) -> None:
    username, password = new_user(db)
    statuses = asyncio.run(_guess_at_once(proxied, username, "127.0.0.63", 12))
    assert 429 in statuses
    assert login(proxied, username, password, "127.0.0.63").status_code == 429
    assert login(proxied, username, password, "127.0.0.64").status_code == 200


def test_one_address_guessing_many_names_waits(proxied: ConsoleServer, db: Conn) -> None:
    ip = "127.0.0.65"
    for _ in range(ADDRESS_LIMIT):
        assert login(proxied, f"guess-{secrets.token_hex(3)}", "wrong-password", ip).status_code == 401
    username, password = new_user(db)
    assert login(proxied, username, password, ip).status_code == 429
    assert login(proxied, username, password, "127.0.0.66").status_code == 200


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(proxied: ConsoleServer, db: Conn) -> None:
    username, password = new_user(db)
    ip = "127.0.0.67"
    # A new made-up address each time would dodge throttling if it were believed.
    for n in range(5):
        spoof = {"X-Forwarded-For": f"203.0.113.{n + 1}", "Forwarded": f"for=198.51.100.{n + 1}"}
        assert login(proxied, username, "wrong-password", ip, spoof).status_code == 401
    assert login(proxied, username, password, ip, {"X-Forwarded-For": "203.0.113.99"}).status_code == 429
    assert set(recorded_addresses(db, username)) == {ip}


def test_the_client_address_from_a_trusted_proxy_is_honoured(proxied: ConsoleServer, db: Conn) -> None:
    username, password = new_user(db)
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    for _ in range(5):
        assert login(proxied, username, "wrong-password", PROXY, attacker).status_code == 401
    assert login(proxied, username, password, PROXY, attacker).status_code == 429
    # The owner comes through the same proxy (every user shares its address) and gets in;
    # a client's own claim left of the proxy chain does not count, the nearest untrusted hop does.
    owner = {"X-Forwarded-For": "203.0.113.66, 198.51.100.7, 10.1.2.3"}
    assert login(proxied, username, password, PROXY, owner).status_code == 200
    rfc7239 = {"Forwarded": 'for="[2001:db8::7]:4711";proto=https, for=10.9.9.9'}
    assert login(proxied, username, password, PROXY, rfc7239).status_code == 200
    assert recorded_addresses(db, username) == ["203.0.113.66"] * 5 + [
        "203.0.113.66", "198.51.100.7", "2001:db8::7"]
