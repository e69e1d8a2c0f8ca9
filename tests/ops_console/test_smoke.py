"""The console starts against the scratch database and answers its health checks."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration


def test_health_ready_and_login(client: httpx.Client, token_for: Callable[[str], str]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    me = client.get("/api/v1/auth/me", headers=bearer(token_for("operator")))
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "operator"
    assert "cityhub_console_requests" in client.get("/metrics").text
