"""The client's address and scheme from forwarded headers, believed only from trusted proxies."""

from __future__ import annotations

import pytest
from starlette.requests import HTTPConnection

from hub.settings import load_settings
from ops_console.client_address import client_address, is_https

SETTINGS = load_settings({}, trusted_proxies="10.0.0.0/8, 2001:db8:ffff::1")


def conn(peer: str, *headers: tuple[str, str], scheme: str = "http") -> HTTPConnection:
    return HTTPConnection({"type": "http", "scheme": scheme, "client": (peer, 50000), "path": "/",
                           "headers": [(k.lower().encode(), v.encode()) for k, v in headers]})


@pytest.mark.parametrize(("peer", "headers", "client"), [
    ("192.0.2.1", [("X-Forwarded-For", "203.0.113.9")], "192.0.2.1"),          # untrusted peer
    ("10.0.0.5", [("X-Forwarded-For", "203.0.113.9")], "203.0.113.9"),
    ("10.0.0.5", [("X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.2.2.2")], "203.0.113.9"),
    ("10.0.0.5", [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "203.0.113.9")], "203.0.113.9"),
    ("10.0.0.5", [("Forwarded", 'for="[2001:db8::7]:4711";proto=https')], "2001:db8::7"),
    ("10.0.0.5", [("Forwarded", "for=203.0.113.9:80, for=10.1.1.1"),
                  ("X-Forwarded-For", "198.51.100.1")], "203.0.113.9"),        # Forwarded wins
    ("10.0.0.5", [("X-Forwarded-For", "203.0.113.9, unknown")], "10.0.0.5"),   # a hop we cannot read
    ("10.0.0.5", [("X-Forwarded-For", "10.3.3.3")], "10.3.3.3"),               # only proxies
    ("10.0.0.5", [], "10.0.0.5"),
    ("2001:db8:ffff::1", [("X-Forwarded-For", "2001:db8::42")], "2001:db8::42"),
])
def test_client_address(peer: str, headers: list[tuple[str, str]], client: str) -> None:
    assert client_address(conn(peer, *headers), SETTINGS) == client


def test_tls_is_taken_from_a_trusted_proxy_only() -> None:
    assert is_https(conn("10.0.0.5", ("X-Forwarded-Proto", "https")), SETTINGS)
    assert is_https(conn("10.0.0.5", ("Forwarded", "for=1.2.3.4;proto=https")), SETTINGS)
    assert not is_https(conn("192.0.2.1", ("X-Forwarded-Proto", "https")), SETTINGS)
    assert not is_https(conn("10.0.0.5", ("X-Forwarded-Proto", "http")), SETTINGS)
    assert is_https(conn("192.0.2.1", scheme="https"), SETTINGS)


def test_a_bad_trusted_proxy_setting_stops_the_start() -> None:
    from hub.errors import ConfigError

    with pytest.raises(ConfigError, match="CITYHUB_TRUSTED_PROXIES"):
        load_settings({"CITYHUB_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"})
