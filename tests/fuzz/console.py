"""A console for the API fuzzing: its own throw-away database (so that the fuzzer's
logins, logouts and throttled addresses touch no other test), a real uvicorn server,
and a valid token for each caller: every user role, and the broker with its secret."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from fastapi import FastAPI

from hub.catalogue import Catalogue
from hub.scratch import scratch_database
from hub.settings import Settings, load_settings
from hub.users import ROLES
from ops_console.app import create_app
from ops_console.testing import Accounts, ConsoleServer, serve
from tests.helpers import new_device
from tests.ops_console.alert_helpers import raise_alert

CALLERS = (*ROLES, "broker")


def console_settings(database_url: str, broker_secret: str) -> Settings:
    return load_settings({}, database_url=database_url, secret_key=secrets.token_urlsafe(32),
                         broker_auth_secret=broker_secret, console_origins="http://127.0.0.1")


def openapi() -> dict[str, object]:
    """The console's OpenAPI document; building the app opens no connection."""
    app: FastAPI = create_app(console_settings("postgresql://nobody@127.0.0.1:1/none", "x" * 32))
    return app.openapi()


@dataclass(frozen=True)
class FuzzConsole:
    server: ConsoleServer
    tokens: dict[str, str]  # caller -> bearer token


def _seed(database_url: str, catalogue: Catalogue) -> None:
    """A device of each kind and an alert on each sensor, so that the small ids the fuzzer
    tries first (alert 1, 2, 3) reach past "not found" into the handlers."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        devices = {kind: new_device(conn, catalogue, kind) for kind in sorted(catalogue.kinds)}
    for kind, device in devices.items():
        if kind != "gateway":
            raise_alert(database_url, device, "fuzz-zone")


@contextmanager
def fuzz_console(admin_url: str, catalogue: Catalogue) -> Iterator[FuzzConsole]:
    broker_secret = secrets.token_urlsafe(24)
    with scratch_database(admin_url, "cityhub_fuzz", catalogue) as url:
        _seed(url, catalogue)
        with serve(create_app(console_settings(url, broker_secret))) as server:
            accounts = Accounts(url, server)
            tokens = {role: accounts.token_for(role) for role in ROLES} | {"broker": broker_secret}
            yield FuzzConsole(server, tokens)
