"""Fixtures for the console's tests, reused by other packages' console tests.

- ``console_settings``: Settings for the scratch database with a random secret key
  and broker secret (BROKER_SECRET);
- ``console_app``: ``create_app(console_settings)``;
- ``console_server``: that app served by a real uvicorn on 127.0.0.1 (session-wide);
- ``client``: an ``httpx.Client`` with ``base_url`` set to the server;
- ``token_for(role)``: an access token of this run's test user with that role;
- ``accounts``: the same users' names and passwords (``accounts.user_for(role)``);
- ``keyed_console``: a console of its own (per module) with the tests' device-token key
  (tests/token_keys.py), and ``broker_login`` to ask it as EMQX does.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from hub.settings import Settings, load_settings
from ops_console.app import create_app
from ops_console.testing import Accounts, ConsoleServer, serve
from tests import token_keys

BROKER_SECRET = secrets.token_urlsafe(24)


@pytest.fixture(scope="session")
def console_settings(database_url: str) -> Settings:
    return load_settings({}, database_url=database_url, secret_key=secrets.token_urlsafe(32),
                         broker_auth_secret=BROKER_SECRET, console_origins="http://127.0.0.1")


@pytest.fixture(scope="session")
def console_app(console_settings: Settings) -> FastAPI:
    return create_app(console_settings)


@pytest.fixture(scope="session")
def console_server(console_app: FastAPI) -> Iterator[ConsoleServer]:
    with serve(console_app) as server:
        yield server


@pytest.fixture(scope="module")
def keyed_console(console_settings: Settings) -> Iterator[ConsoleServer]:
    settings = load_settings({}, **{**console_settings.model_dump(), "device_token_key": token_keys.KEY})
    with serve(create_app(settings)) as server:
        yield server


def broker_login(server: ConsoleServer, username: str, password: str) -> str:
    """POST /api/v1/mqtt/auth as EMQX sends it: "allow" or "deny"."""
    with server.client() as http:
        response = http.post("/api/v1/mqtt/auth", headers=bearer(BROKER_SECRET),
                             json={"username": username, "password": password, "clientid": username})
    assert response.status_code == 200, response.text
    assert response.json()["is_superuser"] is False
    result: str = response.json()["result"]
    return result


@pytest.fixture
def client(console_server: ConsoleServer) -> Iterator[httpx.Client]:
    with console_server.client() as http:
        yield http


@pytest.fixture(scope="session")
def accounts(database_url: str, console_server: ConsoleServer) -> Accounts:
    return Accounts(database_url, console_server)


@pytest.fixture
def token_for(accounts: Accounts) -> Callable[[str], str]:
    return accounts.token_for


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
