"""The analyst may use the datasets routes (and log in and out); every other route of
the app refuses an analyst's token. Routes are enumerated from the app itself."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.ops_console.conftest import bearer
from tests.ops_console.test_roles import concrete, http_routes

pytestmark = pytest.mark.integration

ALLOWED_PREFIXES = ("/api/v1/datasets", "/api/v1/auth/")


def test_an_analyst_is_refused_everywhere_but_datasets_and_auth(
    console_app: FastAPI, client: httpx.Client, token_for: Callable[[str], str]
) -> None:
    token = token_for("analyst")
    refused, allowed = [], []
    for method, path, guard in http_routes(console_app):
        assert guard is not None
        if guard.public:
            continue  # login, refresh, health: no token needed by anyone
        if path.startswith(ALLOWED_PREFIXES):
            allowed.append(path)
            continue
        assert "analyst" not in guard.roles, f"{method} {path} admits analysts"
        response = client.request(method, concrete(path), headers=bearer(token))
        assert response.status_code == 403, f"{method} {path} as analyst: {response.status_code}"
        refused.append(path)
    # The refusals cover the operations routes, and the datasets routes are there.
    assert {"/api/v1/alerts", "/api/v1/devices", "/api/v1/audit"} <= set(refused)
    assert any(p.startswith("/api/v1/telemetry") for p in refused)
    assert {"/api/v1/datasets", "/api/v1/datasets/{name}", "/api/v1/datasets/{name}/rows"} <= set(allowed)
    for path in ("/api/v1/datasets", "/api/v1/datasets/devices", "/api/v1/auth/me"):
        assert client.get(path, headers=bearer(token)).status_code == 200, path
