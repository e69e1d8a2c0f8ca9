"""Login, refresh rotation, logout, token checks, throttling and the start-up secret check."""

from __future__ import annotations

import base64
import json
import secrets
import time

import jwt
import psycopg
import pytest

from hub.errors import ConfigError
from hub.settings import Settings, load_settings
from hub.users import set_disabled
from ops_console.app import create_app
from ops_console.auth import Principal, issue_access_token
from ops_console.testing import ConsoleServer
from tests import console_users
from tests.console_users import new_user
from tests.helpers import Conn
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration


def login(server: ConsoleServer, username: str, password: str,
          ip: str = "127.0.0.1") -> tuple[int, dict[str, str], dict[str, str]]:
    response = console_users.login(server, username, password, ip)
    return response.status_code, response.json(), dict(response.headers)


def actions(db: Conn, target: str) -> list[str]:
    rows = db.execute("SELECT action FROM hub.audit_log WHERE target = %s ORDER BY id", (target,)).fetchall()
    return [str(r[0]) for r in rows]


def test_login_returns_a_short_lived_signed_token(
    console_server: ConsoleServer, console_settings: Settings, db: Conn
) -> None:
    username, password = new_user(db, "supervisor")
    status, body, _ = login(console_server, username, password)
    assert status == 200, body
    assert body["token_type"] == "bearer"
    assert body["role"] == "supervisor"
    claims = jwt.decode(body["access_token"], console_settings.secret_key.get_secret_value(),
                        algorithms=["HS256"])
    assert claims["sub"] == username
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == int(body["expires_in"]) == 15 * 60
    with console_server.client(token=body["access_token"]) as client:
        assert client.get("/api/v1/auth/me").json()["username"] == username
    stored = db.execute("SELECT token_hash FROM hub.refresh_tokens rt JOIN hub.users u ON u.id = rt.user_id "
                        "WHERE u.username = %s", (username,)).fetchall()
    assert len(stored) == 1
    assert body["refresh_token"] not in str(stored[0][0])
    assert actions(db, username) == ["user.add", "auth.login"]


def test_wrong_password_unknown_user_and_disabled_account_are_refused(
    console_server: ConsoleServer, db: Conn
) -> None:
    username, password = new_user(db)
    ip = "127.0.0.11"
    status, body, headers = login(console_server, username, password + "x", ip)
    assert status == 401
    assert "Wrong username or password" in body["detail"]
    assert headers["www-authenticate"] == "Bearer"
    assert login(console_server, "nobody-" + secrets.token_hex(3), password, ip)[0] == 401
    set_disabled(db, username, True, actor="tests")
    assert login(console_server, username, password, ip)[0] == 401
    assert actions(db, username) == ["user.add", "auth.login_failed", "user.disable", "auth.login_failed"]


def test_refresh_rotates_and_a_reused_token_ends_every_session(console_server: ConsoleServer,
                                                               db: Conn) -> None:
    username, password = new_user(db)
    first = login(console_server, username, password)[1]
    with console_server.client() as client:
        second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200, second.text
        new = second.json()
        assert new["refresh_token"] != first["refresh_token"]
        assert client.get("/api/v1/auth/me", headers=bearer(new["access_token"])).status_code == 200
        reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert reused.status_code == 401
        assert "used already" in reused.json()["detail"]
        # The thief's copy and the owner's new token are both dead now.
        owner = client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
        assert owner.status_code == 401
        assert client.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"}).status_code == 401
        # Neither a token in the body nor the page's cookie.
        assert client.post("/api/v1/auth/refresh", json={}).status_code == 401
    assert "auth.refresh_reused" in actions(db, username)


def test_logout_ends_the_session(console_server: ConsoleServer, db: Conn) -> None:
    username, password = new_user(db)
    tokens = login(console_server, username, password)[1]
    with console_server.client(token=tokens["access_token"]) as client:
        out = client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
        assert out.status_code == 204
        again = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert again.status_code == 401
    assert actions(db, username)[-1] == "auth.logout"


def test_expired_and_tampered_tokens_are_refused(console_server: ConsoleServer,
                                                 console_settings: Settings, db: Conn) -> None:
    username, password = new_user(db)
    good = login(console_server, username, password)[1]["access_token"]
    uid = int(jwt.decode(good, options={"verify_signature": False})["uid"])
    me = Principal(uid, username, "operator")
    expired = issue_access_token(console_settings, me, now=time.time() - 3600)
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    tampered = f"{header}.{forged_payload}.{signature}"
    other_key = jwt.encode(claims, "another-key-of-at-least-32-bytes!!", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    with console_server.client() as client:
        assert client.get("/api/v1/auth/me", headers=bearer(good)).status_code == 200
        response = client.get("/api/v1/auth/me", headers=bearer(expired))
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]
        for bad in (tampered, other_key, unsigned):
            assert client.get("/api/v1/audit", headers=bearer(bad)).status_code == 401


def test_failed_logins_for_a_username_wait_from_that_address_only(
    console_server: ConsoleServer, db: Conn
) -> None:
    username, password = new_user(db)
    for _ in range(5):
        assert login(console_server, username, "wrong-password", "127.0.0.21")[0] == 401
    # The guesser's address waits now, even with the right password …
    status, body, headers = login(console_server, username, password, "127.0.0.21")
    assert status == 429
    assert 1 <= int(headers["retry-after"]) <= 30
    assert "Too many failed logins" in body["detail"]
    assert "auth.login_throttled" in actions(db, username)
    # … but the guesses do not lock the account's owner out from elsewhere.
    assert login(console_server, username, password, "127.0.0.22")[0] == 200


def test_a_success_resets_the_counter_of_its_address(console_server: ConsoleServer, db: Conn) -> None:
    username, password = new_user(db)
    for _ in range(4):
        assert login(console_server, username, "wrong-password", "127.0.0.41")[0] == 401
    assert login(console_server, username, password, "127.0.0.41")[0] == 200
    for _ in range(4):
        assert login(console_server, username, "wrong-password", "127.0.0.41")[0] == 401
    assert login(console_server, username, password, "127.0.0.41")[0] == 200


@pytest.mark.parametrize("secret", ["", "changeme", "secret", "short-secret", "aaaaaaaaaaaaaaaa",
                                    "changemechangeme", "0123456789abcdef"])
def test_console_refuses_to_start_on_a_default_secret(database_url: str, secret: str) -> None:
    with pytest.raises(ConfigError, match="CITYHUB_SECRET_KEY"):
        create_app(load_settings({}, database_url=database_url, secret_key=secret))
    # Demo mode (`cityhub up`) is the one exception.
    create_app(load_settings({}, database_url=database_url, secret_key=secret, demo=True))


def test_the_console_command_refuses_a_default_secret(database_url: str) -> None:
    from typer.testing import CliRunner

    from hub.cli.main import _plugins, app

    _plugins()
    result = CliRunner().invoke(app, ["console"], env={"CITYHUB_DATABASE_URL": database_url,
                                                       "CITYHUB_SECRET_KEY": "changeme"})
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)


def test_users_table_keeps_only_argon2_hashes(db: Conn) -> None:
    username, password = new_user(db)
    row = db.execute("SELECT password_hash FROM hub.users WHERE username = %s", (username,)).fetchone()
    assert row is not None
    assert str(row[0]).startswith("$argon2")
    assert password not in str(row[0])
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO hub.users (username, role, password_hash) VALUES ('x-1', 'root', 'h')")
