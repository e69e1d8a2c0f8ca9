"""The console's analyst may use the datasets routes and its own session (log in, who am
I, log out), and nothing else: every other HTTP route answers 403 and every WebSocket
refuses the handshake. Routes are enumerated from the app itself, so a route added
later is covered without touching this file."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import WebSocketRoute
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ops_console.testing import Accounts, ConsoleServer
from tests.ops_console.conftest import bearer
from tests.ops_console.test_roles import http_routes

pytestmark = pytest.mark.integration

DATASETS = "/api/v1/datasets"
# The caller's own session; login and refresh are public (no token).
SELF = {("GET", "/api/v1/auth/me"), ("POST", "/api/v1/auth/logout")}
# Path parameters of the analyst's routes: a dataset that always exists.
SAMPLE = {"name": "devices"}


def allowed(method: str, path: str) -> bool:
    return path == DATASETS or path.startswith(DATASETS + "/") or (method, path) in SELF


def concrete(path: str) -> str:
    return re.sub(r"\{([^}:]+)[^}]*\}", lambda m: SAMPLE.get(m.group(1), "x1"), path)


def test_an_analyst_gets_403_on_every_route_but_datasets_and_its_session(
    console_app: FastAPI, client: httpx.Client, token_for: Callable[[str], str], accounts: Accounts
) -> None:
    token = token_for("analyst")
    refused, answered = [], []
    for method, path, guard in http_routes(console_app):
        assert guard is not None
        if guard.public:
            continue  # health, metrics, the page, login and refresh: no token needed by anyone
        if not allowed(method, path):
            assert "analyst" not in guard.roles, f"{method} {path} admits analysts"
            response = client.request(method, concrete(path), headers=bearer(token))
            assert response.status_code == 403, f"{method} {path} as analyst: {response.status_code}"
            refused.append(path)
            continue
        assert "analyst" in guard.roles, f"{method} {path} refuses analysts"
        if (method, path) == ("POST", "/api/v1/auth/logout"):
            # Its own session only: the other tests' analyst sessions go on.
            session = accounts.login(*accounts.user_for("analyst"))
            response = client.post(path, json={"refresh_token": session["refresh_token"]},
                                   headers=bearer(str(session["access_token"])))
            assert response.status_code == 204, response.text
        else:
            response = client.request(method, concrete(path), headers=bearer(token))
            assert response.status_code == 200, f"{method} {path} as analyst: {response.text}"
        answered.append(path)
    # The refusals reach every part of operations, the audit log and the broker's hooks.
    assert {"/api/v1/alerts", "/api/v1/devices", "/api/v1/events", "/api/v1/audit", "/api/v1/kpis",
            "/api/v1/handover", "/api/v1/mqtt/auth"} <= set(refused)
    assert any(p.startswith("/api/v1/telemetry") for p in refused)
    assert {DATASETS, DATASETS + "/{name}", DATASETS + "/{name}/rows", "/api/v1/auth/me"} <= set(answered)


def test_an_analyst_may_not_open_any_websocket(
    console_app: FastAPI, console_server: ConsoleServer, token_for: Callable[[str], str]
) -> None:
    token = token_for("analyst")
    sockets = [c.path for c in iter_route_contexts(console_app.routes)
               if isinstance(c.original_route, WebSocketRoute) and c.path]
    assert "/ws" in sockets
    base = console_server.base_url.replace("http://", "ws://")
    for path in sockets:
        with pytest.raises(InvalidStatus) as refusal:
            connect(base + concrete(path), additional_headers=bearer(token), open_timeout=10).close()
        assert refusal.value.response.status_code == 403, path
