"""The web page's refresh cookie, its CSRF guards, and the security headers of every answer."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from http.cookies import SimpleCookie

import httpx
import pytest

from hub.settings import load_settings
from ops_console.app import create_app
from ops_console.testing import ConsoleServer, serve
from tests import console_users
from tests.helpers import Conn

pytestmark = pytest.mark.integration

PROXY = "127.0.0.9"
CSRF = {"X-Requested-With": "cityhub"}


@pytest.fixture(scope="module")
def behind_tls_proxy(database_url: str) -> Iterator[ConsoleServer]:
    settings = load_settings({}, database_url=database_url, secret_key=secrets.token_urlsafe(32),
                             trusted_proxies=PROXY)
    with serve(create_app(settings)) as server:
        yield server


def new_user(db: Conn) -> tuple[str, str]:
    return console_users.new_user(db, prefix="c")


def set_cookie(response: httpx.Response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for value in response.headers.get_list("set-cookie"):
        jar.load(value)
    return jar


def page_login(client: httpx.Client, username: str, password: str) -> tuple[dict[str, str], str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password,
                                                        "refresh_token_in": "cookie"})
    assert response.status_code == 200, response.text
    return response.json(), set_cookie(response)["cityhub_refresh"].value


def test_the_page_gets_its_refresh_token_only_as_an_httponly_strict_cookie(
    console_server: ConsoleServer, db: Conn
) -> None:
    username, password = new_user(db)
    with console_server.client() as client:
        response = client.post("/api/v1/auth/login", json={
            "username": username, "password": password, "refresh_token_in": "cookie"})
    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] is None
    assert body["access_token"]
    assert body["username"] == username
    cookie = set_cookie(response)["cityhub_refresh"]
    assert cookie.value
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "strict"
    assert cookie["path"] == "/api/v1/auth"
    assert cookie["max-age"] == str(12 * 3600)
    assert not cookie["secure"]  # plain HTTP here; see the TLS proxy test


def test_scripts_still_get_both_tokens_in_the_body_and_no_cookie(console_server: ConsoleServer,
                                                                   db: Conn) -> None:
    username, password = new_user(db)
    with console_server.client() as client:
        response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.json()["refresh_token"]
    assert "set-cookie" not in response.headers


def test_a_refresh_by_cookie_rotates_the_cookie_and_needs_the_csrf_header(
    console_server: ConsoleServer, db: Conn
) -> None:
    username, password = new_user(db)
    with console_server.client() as client:
        first, token = page_login(client, username, password)
        client.cookies.clear()
        cookie = {"Cookie": f"cityhub_refresh={token}"}
        # A cross-site form cannot add the header; another origin is refused too.
        assert client.post("/api/v1/auth/refresh", headers=cookie).status_code == 403
        foreign = client.post("/api/v1/auth/refresh", headers={**cookie, **CSRF,
                                                                "Origin": "https://evil.example"})
        assert foreign.status_code == 403
        own_origin = {"Origin": console_server.base_url}
        refreshed = client.post("/api/v1/auth/refresh", headers={**cookie, **CSRF, **own_origin})
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["refresh_token"] is None
        assert refreshed.json()["access_token"] != first["access_token"]
        rotated = set_cookie(refreshed)["cityhub_refresh"].value
        assert rotated
        assert rotated != token
        client.cookies.clear()
        # The old cookie value is spent: presenting it again ends every session, and the
        # refused answer removes the cookie.
        reused = client.post("/api/v1/auth/refresh", headers={**cookie, **CSRF})
        assert reused.status_code == 401
        assert set_cookie(reused)["cityhub_refresh"]["max-age"] == "0"


def test_logout_ends_the_cookies_session_and_clears_it(console_server: ConsoleServer, db: Conn) -> None:
    username, password = new_user(db)
    with console_server.client() as client:
        body, token = page_login(client, username, password)
        _, other_token = page_login(client, username, password)
        client.cookies.clear()
        out = client.post("/api/v1/auth/logout", json={}, headers={
            "Authorization": f"Bearer {body['access_token']}", "Cookie": f"cityhub_refresh={token}"})
        assert out.status_code == 204
        assert set_cookie(out)["cityhub_refresh"]["max-age"] == "0"
        client.cookies.clear()
        ended = client.post("/api/v1/auth/refresh", headers={**CSRF, "Cookie": f"cityhub_refresh={token}"})
        assert ended.status_code == 401
        # Only that session: the one in another browser goes on.
        still = client.post("/api/v1/auth/refresh",
                            headers={**CSRF, "Cookie": f"cityhub_refresh={other_token}"})
        assert still.status_code == 200


def test_every_answer_carries_the_security_headers(console_server: ConsoleServer) -> None:
    with console_server.client() as client:
        for path in ("/", "/healthz", "/api/v1/auth/me", "/static/js/api.js"):
            headers = client.get(path).headers
            policy = headers["content-security-policy"]
            assert "default-src 'self'" in policy
            assert "script-src 'self';" in policy
            assert "'unsafe-inline'" not in policy
            assert "frame-ancestors 'none'" in policy
            assert f"ws://127.0.0.1:{console_server.port}" in policy
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["x-frame-options"] == "DENY"
            assert headers["cross-origin-opener-policy"] == "same-origin"
            assert "camera=()" in headers["permissions-policy"]
            assert "strict-transport-security" not in headers


def test_behind_a_trusted_tls_proxy_the_cookie_is_secure_and_hsts_is_sent(
    behind_tls_proxy: ConsoleServer, db: Conn
) -> None:
    username, password = new_user(db)
    body = {"username": username, "password": password, "refresh_token_in": "cookie"}
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.20"}
    with behind_tls_proxy.client(local_address=PROXY) as client:
        response = client.post("/api/v1/auth/login", json=body, headers=tls)
    assert set_cookie(response)["cityhub_refresh"]["secure"] is True
    assert response.headers["strict-transport-security"].startswith("max-age=")
    # The same header from anyone else is not believed.
    with behind_tls_proxy.client(local_address="127.0.0.10") as client:
        spoofed = client.post("/api/v1/auth/login", json=body, headers=tls)
    assert not set_cookie(spoofed)["cityhub_refresh"]["secure"]
    assert "strict-transport-security" not in spoofed.headers
