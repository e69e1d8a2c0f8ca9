"""Console accounts: add, list, disable, change password. Every change is audited.

Passwords are stored only as argon2 hashes. The console (ops_console) reads these
rows for login; the CLI (``cityhub user …``) and ``cityhub up`` write them here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from hub import audit, credentials
from hub.errors import AlreadyExists, InvalidInput, NotFound

ROLES = ("operator", "supervisor", "analyst", "admin", "vendor")
# The groups endpoints admit, named once (docs/console.md has the table of who may do what).
# Operations: work alerts and see devices' own data (readings, events, the live view).
OPERATIONS_ROLES = ("operator", "supervisor", "admin")
# Staff: the operations centre's people, who read alerts, KPIs and the handover report.
STAFF_ROLES = ("operator", "supervisor", "admin")
# Data: the open datasets (catalogue and rows). Analysts may use nothing else but
# logging in and out (docs/console.md).
DATA_ROLES = ("analyst", "admin")
MIN_PASSWORD = 10
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_COLUMNS = sql.SQL("id, username, display_name, role, disabled, created_at")

Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str | None
    role: str
    disabled: bool
    created_at: datetime


def hash_password(password: str) -> str:
    return credentials.hash_password(password)


def verify_password(password_hash: str, password: str) -> bool:
    return credentials.verify_password(password_hash, password)


def validate_username(username: str) -> str:
    if not _USERNAME.fullmatch(username):
        raise InvalidInput(
            f"Username {username!r} is not allowed: start with a letter or digit, then use up to 63 "
            "letters, digits, '.', '_', '@' or '-'."
        )
    return username


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"Role {role!r} is unknown; choose one of {', '.join(ROLES)}.")
    return role


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD} characters.")
    if password.strip() != password or not password.isprintable():
        raise InvalidInput("A password must not start or end with spaces or contain control characters.")
    return password


def add_user(conn: Conn, username: str, role: str, password: str, *,
             display_name: str | None = None, actor: str = "cli") -> User:
    validate_username(username)
    validate_role(role)
    validate_password(password)
    try:
        with conn.transaction():
            row = conn.execute(
                sql.SQL("INSERT INTO hub.users (username, display_name, role, password_hash) "
                        "VALUES (%s, %s, %s, %s) RETURNING {}").format(_COLUMNS),
                (username, display_name, role, hash_password(password)),
            ).fetchone()
            assert row is not None
            audit.append(conn, actor=actor, action="user.add", target=username,
                         details={"role": role, "display_name": display_name})
    except psycopg.errors.UniqueViolation:
        raise AlreadyExists(f"A user named {username!r} exists already.") from None
    return User(*row)


def list_users(conn: Conn) -> list[User]:
    rows = conn.execute(sql.SQL("SELECT {} FROM hub.users ORDER BY username").format(_COLUMNS)).fetchall()
    return [User(*r) for r in rows]


# Ends every session of one user (parameter: the user's id); the console runs it too.
REVOKE_SESSIONS = sql.SQL("UPDATE hub.refresh_tokens SET revoked_at = now() "
                          "WHERE user_id = %s AND revoked_at IS NULL")


def _revoke_sessions(conn: Conn, user_id: int) -> None:
    conn.execute(REVOKE_SESSIONS, (user_id,))


def set_disabled(conn: Conn, username: str, disabled: bool = True, *, actor: str = "cli") -> User:
    """Disable (or re-enable) an account; disabling also ends its sessions."""
    with conn.transaction():
        row = conn.execute(
            sql.SQL("UPDATE hub.users SET disabled = %s, updated_at = now() WHERE username = %s "
                    "RETURNING {}").format(_COLUMNS), (disabled, username)).fetchone()
        if row is None:
            raise NotFound(f"No user named {username!r}.")
        user = User(*row)
        if disabled:
            _revoke_sessions(conn, user.id)
        audit.append(conn, actor=actor, action="user.disable" if disabled else "user.enable",
                     target=username, details={})
    return user


def set_password(conn: Conn, username: str, password: str, *, actor: str = "cli") -> User:
    """Change a password; the account's refresh tokens stop working."""
    validate_password(password)
    with conn.transaction():
        row = conn.execute(
            sql.SQL("UPDATE hub.users SET password_hash = %s, updated_at = now() WHERE username = %s "
                    "RETURNING {}").format(_COLUMNS), (hash_password(password), username)).fetchone()
        if row is None:
            raise NotFound(f"No user named {username!r}.")
        user = User(*row)
        _revoke_sessions(conn, user.id)
        audit.append(conn, actor=actor, action="user.passwd", target=username, details={})
    return user


DEMO_ACCOUNTS = (("admin", "admin"), ("operator", "operator"), ("analyst", "analyst"))


def ensure_demo_accounts(conn: Conn, path: Path) -> Path:
    """Demo mode: an admin, an operator and an analyst account, passwords kept 0600 in *path*.

    Existing accounts keep their passwords; the file is written only when one is made.
    """
    made: dict[str, dict[str, str]] = {}
    for username, role in DEMO_ACCOUNTS:
        if conn.execute("SELECT 1 FROM hub.users WHERE username = %s", (username,)).fetchone():
            continue
        password = secrets.token_urlsafe(12)
        add_user(conn, username, role, password, display_name=f"demo {role}", actor="cityhub-up")
        made[username] = {"role": role, "password": password}
    if made:
        known: dict[str, dict[str, str]] = {}
        if path.exists():
            known = json.loads(path.read_text(encoding="utf-8"))
        known.update(made)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(known, handle, indent=2)
    return path
