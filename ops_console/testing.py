"""Running the console for tests: a real uvicorn server on a thread, and users by role.

The fixtures in tests/ops_console/conftest.py use these; other packages' tests can
too. The server is real (HTTP over loopback, lifespan, pool), so WebSocket tests
can connect to it with any client.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
import uvicorn
from fastapi import FastAPI

from hub.embedded import free_port
from hub.users import add_user


class ConsoleServer:
    """``app`` served by uvicorn on 127.0.0.1 from a daemon thread."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on", ws="websockets-sansio",
                                # Like `cityhub console`: forwarded headers are the app's to judge.
                                proxy_headers=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="console-server", daemon=True)

    def start(self, timeout: float = 20.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the console server did not start; see the log above")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)

    def client(self, *, local_address: str | None = None, token: str | None = None) -> httpx.Client:
        """A client; *local_address* (e.g. 127.0.0.7) makes requests come from another IP."""
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return httpx.Client(base_url=self.base_url, transport=transport, headers=headers, timeout=30.0)


@contextmanager
def serve(app: FastAPI) -> Iterator[ConsoleServer]:
    server = ConsoleServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Accounts:
    """Creates one user per role on demand and logs in as it (``token_for(role)``)."""

    def __init__(self, database_url: str, server: ConsoleServer) -> None:
        self.database_url = database_url
        self.server = server
        self.passwords: dict[str, tuple[str, str]] = {}

    def user_for(self, role: str) -> tuple[str, str]:
        """(username, password) of this run's test user with *role*, created on first use."""
        if role not in self.passwords:
            username = f"test-{role}-{secrets.token_hex(3)}"
            password = secrets.token_urlsafe(16)
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                add_user(conn, username, role, password, actor="tests")
            self.passwords[role] = (username, password)
        return self.passwords[role]

    def login(self, username: str, password: str) -> dict[str, object]:
        with self.server.client() as client:
            response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        body: dict[str, object] = response.json()
        return body

    def token_for(self, role: str) -> str:
        """A fresh access token of a user with *role*."""
        token = self.login(*self.user_for(role))["access_token"]
        assert isinstance(token, str)
        return token
