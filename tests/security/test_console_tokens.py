"""Forged, unsigned, expired and role-edited access tokens, and the secret they are signed
with: a weak one stops the services at start."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from hub.cli.main import _plugins, app
from hub.errors import ConfigError
from hub.settings import Settings, load_settings
from ops_console.app import create_app
from ops_console.auth import Principal, issue_access_token
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration

# /api/v1/audit admits admins and supervisors only: a forged admin token that got in would show.
ADMIN_ONLY = "/api/v1/audit"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture
def operator_token(token_for: Callable[[str], str], client: httpx.Client) -> str:
    token = token_for("operator")
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    return token


def refused(client: httpx.Client, token: str) -> str:
    response = client.get(ADMIN_ONLY, headers=bearer(token))
    assert response.status_code == 401, response.text
    detail: str = response.json()["detail"]
    return detail


def test_a_token_signed_with_another_key_is_refused(client: httpx.Client, operator_token: str) -> None:
    claims = {**claims_of(operator_token), "role": "admin"}
    forged = jwt.encode(claims, secrets.token_urlsafe(32), algorithm="HS256")
    assert "not valid" in refused(client, forged)


def test_an_alg_none_token_is_refused(client: httpx.Client, operator_token: str) -> None:
    claims = {**claims_of(operator_token), "role": "admin"}
    for header in ({"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"alg": "NONE"}):
        for signature in ("", operator_token.split(".")[2]):
            assert "not valid" in refused(client, f"{b64(header)}.{b64(claims)}.{signature}")


def test_an_expired_token_is_refused(client: httpx.Client, operator_token: str,
                                     console_settings: Settings) -> None:
    claims = claims_of(operator_token)
    me = Principal(int(claims["uid"]), str(claims["sub"]), "admin")
    expired = issue_access_token(console_settings, me, now=time.time() - 24 * 3600)
    assert "expired" in refused(client, expired)


def test_a_role_edited_token_is_refused(client: httpx.Client, operator_token: str) -> None:
    header, _payload, signature = operator_token.split(".")
    for role in ("admin", "supervisor"):
        edited = f"{header}.{b64({**claims_of(operator_token), 'role': role})}.{signature}"
        assert "not valid" in refused(client, edited)
    # The signature is checked over the header too: switching to another HMAC is no way round.
    other = b64({"alg": "HS512", "typ": "JWT"})
    assert "not valid" in refused(client, f"{other}.{operator_token.split('.')[1]}.{signature}")


WEAK = ["", "changeme", "secret", "short-secret", "0123456789abcdef", "changemechangemechangeme",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]


def test_a_default_or_short_secret_stops_the_services_at_start(database_url: str) -> None:
    for secret in WEAK:
        with pytest.raises(ConfigError, match="CITYHUB_SECRET_KEY"):
            create_app(load_settings({}, database_url=database_url, secret_key=secret))
    _plugins()
    env = {"CITYHUB_DATABASE_URL": database_url, "CITYHUB_SECRET_KEY": "changeme",
           "CITYHUB_MQTT_URL": "mqtt://127.0.0.1:1"}
    for command in (["console"], ["ingest"], ["audit", "checkpoint"]):
        result = CliRunner().invoke(app, command, env=env)
        assert result.exit_code != 0, command
        assert "CITYHUB_SECRET_KEY" in (str(result.exception) + result.output), command
