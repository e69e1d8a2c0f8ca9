"""Every HTTP route of the app declares who may call it, and refuses everyone else.

The routes are enumerated from the app itself, so routers added later are checked
without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from hub.users import ROLES
from ops_console.auth import Guard
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration

# FastAPI's own documentation routes.
_DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}


def _guards(dependant: Any) -> Iterator[Guard]:
    for sub in getattr(dependant, "dependencies", []):
        if isinstance(sub.call, Guard):
            yield sub.call
        yield from _guards(sub)


def http_routes(app: FastAPI) -> list[tuple[str, str, Guard | None]]:
    """(method, path, declared guard) for every HTTP endpoint of *app*."""
    found = []
    for route in iter_route_contexts(app.routes):
        methods = route.methods
        path = route.path
        if not methods or path is None or path in _DOCS:
            continue  # WebSocket routes and mounts (static files) have no HTTP methods
        dependant = getattr(route, "dependant", None)
        guards = list(_guards(dependant))
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            found.append((method, path, guards[0] if len(guards) == 1 else None))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_every_route_declares_exactly_one_guard(console_app: FastAPI) -> None:
    routes = http_routes(console_app)
    assert len(routes) >= 10
    undeclared = [f"{m} {p}" for m, p, g in routes if g is None]
    assert undeclared == [], "routes without exactly one require_roles/require_broker/public"


def test_every_route_refuses_undeclared_roles_and_missing_tokens(
    console_app: FastAPI, client: httpx.Client, token_for: Callable[[str], str]
) -> None:
    tokens = {role: token_for(role) for role in ROLES}
    checked = 0
    for method, path, guard in http_routes(console_app):
        assert guard is not None
        if guard.public:
            continue
        url = concrete(path)
        anonymous = client.request(method, url)
        assert anonymous.status_code == 401, f"{method} {path} without a token: {anonymous.status_code}"
        assert anonymous.json()["detail"]
        garbage = client.request(method, url, headers=bearer("not-a-token"))
        assert garbage.status_code == 401, f"{method} {path} with a bad token"
        for role in ROLES:
            if role in guard.roles:
                continue
            refused = client.request(method, url, headers=bearer(tokens[role]))
            assert refused.status_code == 403, f"{method} {path} as {role}: {refused.status_code}"
            checked += 1
    assert checked > 0


def test_allowed_roles_get_past_the_guard(client: httpx.Client, token_for: Callable[[str], str]) -> None:
    # The refusals above must not be a guard that refuses everyone.
    for role in ("operator", "supervisor", "admin"):
        assert client.get("/api/v1/devices", headers=bearer(token_for(role))).status_code == 200
    assert client.get("/api/v1/audit", headers=bearer(token_for("admin"))).status_code == 200
