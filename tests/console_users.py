"""Console users for tests: a new account, and a login from a chosen client address."""

from __future__ import annotations

import secrets

import httpx

from hub.users import add_user
from ops_console.testing import ConsoleServer
from tests.helpers import Conn


def new_user(db: Conn, role: str = "operator", prefix: str = "u") -> tuple[str, str]:
    """A fresh account with a random name and password: (username, password)."""
    username, password = f"{prefix}-{secrets.token_hex(4)}", secrets.token_urlsafe(14)
    add_user(db, username, role, password, actor="tests")
    return username, password


def login(server: ConsoleServer, username: str, password: str, ip: str = "127.0.0.1",
          headers: dict[str, str] | None = None) -> httpx.Response:
    """POST /api/v1/auth/login from the loopback address *ip*."""
    with server.client(local_address=ip) as client:
        return client.post("/api/v1/auth/login", json={"username": username, "password": password},
                           headers=headers)
