"""SQL-injection-shaped values in every query and path parameter of every GET route.

The routes and their parameters come from the console's own OpenAPI document, so a
parameter added later is attacked too. For each value the console must answer without a
5xx, without running what was injected (a `pg_sleep(60)` that ran would hang the request
past the client's timeout; the answer's time itself is not judged) and without more
rows than the same request with a harmless value that matches nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from hub import alert_store
from hub.alerts import Occurrence
from hub.catalogue import Catalogue
from hub.users import ROLES
from ops_console.testing import Accounts, ConsoleServer
from tests.helpers import new_device
from tests.ops_console.conftest import bearer
from tests.ops_console.test_roles import http_routes

pytestmark = pytest.mark.integration

INJECTIONS = [
    "' OR '1'='1",  # a tautology in a string
    "1 OR 1=1); SELECT pg_sleep(60); --",  # a number, then a stacked statement
    "x' UNION SELECT NULL, usename, passwd FROM pg_shadow --",
    "%' AND (SELECT 1 FROM pg_sleep(60)) IS NULL AND '%'='",  # inside a LIKE
]
# Far longer than any answer of this small database; shorter than an injected pg_sleep(60).
TIMEOUT = 40.0


@pytest.fixture(scope="module")
def rows_to_steal(database_url: str, catalogue: Catalogue) -> str:
    """A device with a reading, an event and an alert, so that a filter that leaked would
    return rows; its id."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        device_id = new_device(conn, catalogue, "cctv", prefix="sqli", zone="jung-gu")
        now = datetime.now(UTC)
        conn.execute("INSERT INTO hub.events (ts, device_id, type, severity, confidence) "
                     "VALUES (%s, %s, 'fall', 'warning', 0.9)", (now, device_id))
    async def alert() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as aconn:
            await alert_store.raise_or_update(aconn, [Occurrence(
                rule_id="sqli-test", alert_type="fall", title="a fall", source="rule",
                severity="warning", device_id=device_id, zone="jung-gu", ts=now)])
    asyncio.run(alert())
    return device_id


def openapi_parameters(app: FastAPI) -> dict[str, list[tuple[str, str]]]:
    """GET path -> its (name, where) parameters, where is "query" or "path"."""
    found: dict[str, list[tuple[str, str]]] = {}
    for path, operations in app.openapi()["paths"].items():
        get = operations.get("get")
        if get is not None:
            found[path] = [(p["name"], p["in"]) for p in get.get("parameters", [])
                           if p["in"] in ("query", "path")]
    return found


def count_rows(response: httpx.Response) -> int:
    if response.status_code != 200:
        return 0
    kind = response.headers.get("content-type", "")
    if "json" in kind and "jsonl" not in kind and "ndjson" not in kind:
        body: Any = response.json()
        if isinstance(body, list):
            return len(body)
        if isinstance(body, dict):
            return sum(len(v) for v in body.values() if isinstance(v, list))
        return 0
    if "csv" in kind:
        return max(0, len(list(csv.reader(io.StringIO(response.text)))) - 1)
    if "ndjson" in kind or "jsonl" in kind:
        return len([line for line in response.text.splitlines() if line.strip()])
    if "html" in kind:  # a page echoes the filter: count its table rows and list items
        return response.text.count("<tr") + response.text.count("<li")
    return len(response.content)  # binary formats: more rows, more bytes


def attack(client: httpx.Client, path: str, parameters: list[tuple[str, str]], target: str,
           value: str, device_id: str, headers: dict[str, str]) -> httpx.Response:
    """GET *path* with *value* in parameter *target*; other path parameters name a real device."""
    url, params = path, {}
    for name, where in parameters:
        if where == "path":
            url = url.replace("{" + name + "}", quote(value if name == target else device_id, safe=""))
        elif name == target:
            params[name] = value
    return client.get(url, params=params, headers=headers)


def test_sql_injection_in_every_query_parameter(
    console_app: FastAPI, console_server: ConsoleServer, token_for: Callable[[str], str],
    rows_to_steal: str,
) -> None:
    guards = {path: guard for method, path, guard in http_routes(console_app) if method == "GET"}
    tokens: dict[str, str] = {}
    attacked = 0
    with httpx.Client(base_url=console_server.base_url, timeout=TIMEOUT) as client:
        for path, parameters in openapi_parameters(console_app).items():
            guard = guards.get(path)
            if guard is None or guard.public or not parameters or not guard.roles & set(ROLES):
                continue
            role = sorted(guard.roles & set(ROLES))[0]
            headers = bearer(tokens.get(role) or tokens.setdefault(role, token_for(role)))
            for name, _where in parameters:
                harmless = attack(client, path, parameters, name, f"nomatch-{secrets.token_hex(4)}",
                                  rows_to_steal, headers)
                assert harmless.status_code < 500, f"{path} {name}: {harmless.status_code}"
                for value in INJECTIONS:
                    answer = attack(client, path, parameters, name, value, rows_to_steal, headers)
                    what = f"GET {path} with {name}={value!r}"
                    assert answer.status_code < 500, f"{what}: {answer.status_code} {answer.text[:200]}"
                    assert count_rows(answer) <= count_rows(harmless), f"{what}: extra rows"
                    attacked += 1
    assert attacked >= 30 * len(INJECTIONS)


def test_sql_injection_in_the_login_body_logs_nobody_in(client: httpx.Client, accounts: Accounts) -> None:
    admin, _ = accounts.user_for("admin")  # an admin exists whose name the injections try to reach
    for username in (f"{admin}' --", "x' OR role = 'admin' --"):
        answer = client.post("/api/v1/auth/login", json={"username": username, "password": "' OR '1'='1"})
        assert answer.status_code in (401, 422, 429), f"{username!r}: {answer.status_code}"
        assert "access_token" not in answer.text
