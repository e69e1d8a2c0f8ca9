"""Bad input gets a 4xx with a reason, never a 500: NUL characters and out-of-range dates.

The GET routes and the parameters each declares are enumerated from the app, so a
router added later is checked without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from ops_console.auth import Guard
from ops_console.input_guard import has_nul
from ops_console.testing import Accounts
from tests.ops_console.conftest import BROKER_SECRET, bearer

NUL = "a\x00b"


def _walk(dependant: Any) -> Iterator[Any]:
    yield dependant
    for sub in getattr(dependant, "dependencies", []):
        yield from _walk(sub)


def get_routes(app: FastAPI) -> list[tuple[str, Guard | None, list[str], list[str]]]:
    """(path, guard, path parameters, query parameters) of every GET endpoint of *app*."""
    found = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if not route.methods or "GET" not in route.methods or route.path is None or dependant is None:
            continue  # WebSockets, static mounts, FastAPI's own /docs pages
        parts = list(_walk(dependant))
        guards = [p.call for p in parts if isinstance(p.call, Guard)]
        found.append((route.path, guards[0] if guards else None,
                      [f.alias for p in parts for f in p.path_params],
                      [f.alias for p in parts for f in p.query_params]))
    return found


def assert_refused(response: httpx.Response, what: str) -> str:
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text[:200]}"
    detail = response.json()["detail"]
    assert detail, f"{what}: no reason given"
    assert "\x00" not in str(detail), f"{what} echoes the input"
    assert "a\\u0000b" not in response.text, f"{what} echoes the input"
    return str(detail)


@pytest.mark.parametrize(("path", "query", "expected"), [
    ("/api/v1/devices/a\x00b", b"", True),
    ("/api/v1/events", b"zone=a%00b", True),
    ("/api/v1/events", b"zone=a%2500b", False),  # a literal "%00", not a NUL
    ("/api/v1/events", b"zone=jung-gu&type=crowd", False),
])
def test_has_nul_reads_the_decoded_path_and_the_encoded_query(path: str, query: bytes,
                                                               expected: bool) -> None:
    assert has_nul(path, query) is expected


@pytest.mark.integration
def test_a_nul_in_any_path_or_query_parameter_is_400(
    console_app: FastAPI, client: httpx.Client, token_for: Callable[[str], str]
) -> None:
    routes = get_routes(console_app)
    assert any("{" in path for path, *_ in routes)
    tried = 0
    for path, guard, path_params, query_params in routes:
        if guard is None or guard.public:
            headers = {}
        elif "broker" in guard.roles:
            headers = bearer(BROKER_SECRET)
        else:
            headers = bearer(token_for("admin" if "admin" in guard.roles else sorted(guard.roles)[0]))
        plain = re.sub(r"\{[^}]+\}", "x1", path)
        for name in path_params:
            url = re.sub(r"\{" + name + r"(:[^}]*)?\}", "a%00b", path)
            url = re.sub(r"\{[^}]+\}", "x1", url)
            assert_refused(client.get(url, headers=headers), f"GET {path} with NUL in {name}")
            tried += 1
        for name in query_params:
            response = client.get(plain, params={name: NUL}, headers=headers)
            assert_refused(response, f"GET {path}?{name}=<NUL>")
            tried += 1
    assert tried >= 40


@pytest.mark.integration
def test_a_nul_in_the_login_username_is_400_and_the_next_login_works(
    client: httpx.Client, accounts: Accounts
) -> None:
    response = client.post("/api/v1/auth/login", json={"username": "kim\x00admin", "password": "x" * 12})
    detail = assert_refused(response, "login with NUL in the username")
    assert "NUL" in detail
    username, password = accounts.user_for("operator")
    again = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert again.status_code == 200


@pytest.mark.integration
@pytest.mark.parametrize(("endpoint", "body"), [
    ("auth", {"username": "dev\x00ice", "password": "p", "clientid": "c"}),
    ("auth", {"username": "ingest", "password": "p\x00", "clientid": "c"}),
    ("acl", {"username": "dev\x00ice", "topic": "cityhub/v1/x/telemetry", "action": "publish"}),
    ("acl", {"username": "ingest", "topic": "cityhub/v1/\x00/telemetry", "action": "subscribe"}),
])
def test_the_broker_endpoints_deny_a_nul(client: httpx.Client, endpoint: str, body: dict[str, str]) -> None:
    # EMQX reads any status but 200 as "ignore"; a deny is the safe answer.
    response = client.post(f"/api/v1/mqtt/{endpoint}", json=body, headers=bearer(BROKER_SECRET))
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "deny"


@pytest.mark.integration
@pytest.mark.parametrize(("day", "status"), [("0001-01-01", 400), ("9999-12-31", 200)])
def test_kpis_for_a_day_at_the_edge_of_the_calendar(client: httpx.Client, token_for: Callable[[str], str],
                                                    day: str, status: int) -> None:
    # Seoul's 0001-01-01 begins in 1 BC UTC, which no Python datetime holds; 9999-12-31 ends in range.
    response = client.get("/api/v1/kpis", params={"day": day}, headers=bearer(token_for("operator")))
    assert response.status_code == status, response.text
    if status == 400:
        assert "range" in assert_refused(response, f"kpis?day={day}")
    else:
        assert response.json()["day"] == day
