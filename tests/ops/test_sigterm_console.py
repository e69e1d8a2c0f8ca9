"""SIGTERM drains the console: a request in flight is answered, live-view clients get a
clean close with the reason, and the process exits with 0."""

from __future__ import annotations

import json
import secrets
import socket
from pathlib import Path

import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from hub.embedded import free_port
from hub.settings import load_settings
from ops_console.auth import Principal, issue_access_token
from ops_console.live.fanout import CLOSE_SHUTDOWN
from tests.ops.service_process import ServiceProcess, healthy
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def _accepted(pid: int, local_port: int) -> bool:
    """The console process holds the server side of our connection."""
    return any(c.raddr and c.raddr.port == local_port for c in psutil.Process(pid).net_connections())


def test_sigterm_answers_requests_in_flight_closes_live_view_and_exits_0(
    database_url: str, tmp_path: Path,
) -> None:
    secret = secrets.token_urlsafe(32)
    port = free_port()
    service = ServiceProcess(["console", "--port", str(port)],
                             {"CITYHUB_DATABASE_URL": database_url, "CITYHUB_SECRET_KEY": secret},
                             tmp_path / "console.log")
    try:
        wait_for(lambda: healthy(port) or service.process.poll() is not None, timeout=60,
                 what="the console to answer")
        assert service.process.poll() is None, service.text()[-3000:]
        settings = load_settings({}, secret_key=secret, database_url=database_url)
        token = issue_access_token(settings, Principal(1, "night-shift", "operator"))
        live = connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["cityhub.v1", f"bearer.{token}"],  # type: ignore[list-item]
                       open_timeout=10)
        assert json.loads(live.recv(timeout=10))["type"] == "hello"

        # A login whose body has not all arrived yet: the request is in flight.
        body = json.dumps({"username": "nobody-" + secrets.token_hex(3), "password": "x" * 12}).encode()
        pending = socket.create_connection(("127.0.0.1", port), timeout=10)
        pending.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body[:5])
        wait_for(lambda: _accepted(service.process.pid, pending.getsockname()[1]),
                 what="the console to accept the pending request")

        service.terminate()
        with pytest.raises(ConnectionClosed) as closed:
            live.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == CLOSE_SHUTDOWN
        assert "shutting down" in closed.value.rcvd.reason

        pending.sendall(body[5:])
        answer = b""
        while chunk := pending.recv(65536):
            answer += chunk
        pending.close()
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 401"), answer[:300]  # an answer, not a dropped line
        assert b"detail" in payload

        assert service.wait(30) == 0, service.text()[-3000:]
        assert service.logged("closed 1 live-view connection(s)")
        assert not healthy(port)
    finally:
        service.kill()
