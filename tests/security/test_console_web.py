"""The console's web surface: path traversal on the static files, and the live view's
WebSocket opened from another origin or without a token."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ops_console.testing import ConsoleServer
from ops_console.web import STATIC_DIR

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Files a traversal would reach, and a line of each that no static file contains.
SECRETS = {"/etc/passwd": "root:", "ops_console/app.py": "def create_app",
           "pyproject.toml": "[project]"}
TRAVERSALS = [
    "/static/../../../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%252e%252e/%252e%252e/%252e%252e/etc/passwd",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/..%5c..%5c..%5capp.py",
    "/static/....//....//....//etc/passwd",
    "/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/static/index.html%00.png",
    "/static/../../app.py",
    "/static/..%2f..%2fapp.py",
    "/static/..%2f..%2f..%2fpyproject.toml",
    "/vendor/uplot/..%2f..%2f..%2f..%2fapp.py",
    "/vendor/uplot/../../../../../../etc/passwd",
    "/vendor/noto-sans-kr/..%2f..%2f..%2f..%2f..%2fpyproject.toml",
]


def raw_get(server: ConsoleServer, path: str) -> tuple[int, str]:
    """GET *path* exactly as written: no client-side normalisation of dots or escapes."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


def test_path_traversal_on_the_static_files_reads_nothing_outside_them(console_server: ConsoleServer) -> None:
    status, body = raw_get(console_server, "/static/index.html")
    assert status == 200  # the mount serves files: the refusals below are not a dead route
    assert (STATIC_DIR / "index.html").read_text(encoding="utf-8")[:200] in body
    for target, marker in SECRETS.items():
        assert marker in (Path(target) if target.startswith("/") else ROOT / target).read_text()
    for path in TRAVERSALS:
        status, body = raw_get(console_server, path)
        assert status in (400, 404, 405), f"{path}: {status}"
        leaked = [t for t, marker in SECRETS.items() if marker in body]
        assert leaked == [], f"{path} returned {leaked}"


def ws_url(server: ConsoleServer) -> str:
    return server.base_url.replace("http://", "ws://") + "/ws"


def handshake_refused(server: ConsoleServer, **kw: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as info:
        connect(ws_url(server), open_timeout=10, **kw).close()
    response = info.value.response
    return response.status_code, response.body.decode() if response.body else ""


def test_a_cross_origin_websocket_is_refused(console_server: ConsoleServer,
                                            token_for: Callable[[str], str]) -> None:
    token = token_for("operator")
    for origin in ("http://evil.example", "http://127.0.0.1.evil.example", "null",
                   f"http://127.0.0.1:{console_server.port}.evil.example", "https://127.0.0.1@evil.example"):
        status, body = handshake_refused(console_server, origin=origin,
                                         subprotocols=["cityhub.v1", f"bearer.{token}"])
        assert status == 403, origin
        assert "CITYHUB_CONSOLE_ORIGINS" in body
    # The same token from the console's own page is let in.
    own: Any = f"http://127.0.0.1:{console_server.port}"
    protocols: Any = ["cityhub.v1", f"bearer.{token}"]
    with connect(ws_url(console_server), open_timeout=10, origin=own, subprotocols=protocols) as ws:
        assert '"hello"' in str(ws.recv(timeout=10))


def test_a_websocket_without_a_valid_token_is_refused(console_server: ConsoleServer) -> None:
    origin = f"http://127.0.0.1:{console_server.port}"
    assert handshake_refused(console_server, origin=origin)[0] == 401
    for junk in ("bearer.", "bearer.x.y.z", "bearer.eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4ifQ."):
        status, body = handshake_refused(console_server, origin=origin,
                                         subprotocols=["cityhub.v1", junk])
        assert status == 401, junk
        assert "token" in body
    status, _ = handshake_refused(console_server, origin=origin,
                                  additional_headers={"Authorization": "Bearer "})
    assert status == 401
