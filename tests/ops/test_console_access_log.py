"""`cityhub console` as operators run it: EMQX's answered login checks leave no access-log
line (a reconnect storm would write thousands a second), refused ones and other requests do."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from hub.embedded import free_port
from tests.ops.service_process import ServiceProcess, healthy
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

AUTH = "/api/v1/mqtt/auth"


def test_answered_broker_checks_are_not_access_logged_refused_ones_are(
    database_url: str, tmp_path: Path,
) -> None:
    broker_secret = secrets.token_urlsafe(24)
    port = free_port()
    service = ServiceProcess(["console", "--port", str(port)],
                             {"CITYHUB_DATABASE_URL": database_url,
                              "CITYHUB_SECRET_KEY": secrets.token_urlsafe(32),
                              "CITYHUB_BROKER_AUTH_SECRET": broker_secret,
                              "CITYHUB_LOG_LEVEL": "INFO"},
                             tmp_path / "console.log")
    try:
        wait_for(lambda: healthy(port) or service.process.poll() is not None, timeout=60,
                 what="the console to answer")
        assert service.process.poll() is None, service.text()[-3000:]
        body = {"username": "nobody-" + secrets.token_hex(3), "password": "x" * 24,
                "clientid": "nobody"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(3):
                answered = http.post(AUTH, json=body, headers={"Authorization": f"Bearer {broker_secret}"})
                assert answered.status_code == 200
                assert answered.json()["result"] == "deny"
            refused = http.post(AUTH, json=body, headers={"Authorization": "Bearer wrong"})
            assert refused.status_code in (401, 403)
        # Requests in order on one connection: once the refusal is logged, so would the
        # answered checks be.
        service.wait_logged(f'"POST {AUTH} HTTP/1.1" {refused.status_code}')
        access = [r["message"] for r in service.records() if r["logger"] == "uvicorn.access"]
        assert not [m for m in access if f"{AUTH} HTTP/1.1\" 200" in m], access
        assert any('"GET /healthz HTTP/1.1" 200' in m for m in access)
    finally:
        service.kill()
