"""Logins and refresh-token rotation (the console's async account I/O).

Refresh tokens are random strings; only their SHA-256 is stored. Using one revokes
it and issues its successor; presenting an already-used token again means it was
copied, so every session of that user is ended. Checked logins are kept in
``hub.login_attempts``; throttling them is ops_console/throttle.py's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from hub import audit
from hub.credentials import dummy_hash, new_token, token_digest
from hub.settings import Settings
from hub.users import REVOKE_SESSIONS, verify_password
from ops_console.auth import Principal
from ops_console.db import AsyncConn


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    refresh_token: str


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    session: Session | None
    reason: Literal["ok", "unknown", "expired", "reused", "revoked", "disabled"]


async def record_attempt(conn: AsyncConn, username: str, client_ip: str, ok: bool) -> None:
    """Keep the outcome of a checked login in the history (throttling: ops_console/throttle.py)."""
    await conn.execute("INSERT INTO hub.login_attempts (username, client_ip, ok) VALUES (%s, %s, %s)",
                       (username, client_ip, ok))


def _verify(stored: str | None, password: str) -> bool:
    # An unknown name is checked against the dummy hash, so a miss costs as long as a wrong password.
    return verify_password(dummy_hash() if stored is None else stored, password)


async def authenticate(conn: AsyncConn, username: str, password: str) -> Principal | None:
    """The principal for a right password of an enabled account, else None."""
    cur = await conn.execute(
        "SELECT id, username, role, password_hash, disabled FROM hub.users WHERE username = %s",
        (username,))
    row = await cur.fetchone()
    stored = str(row[3]) if row is not None else None
    # argon2 is deliberately slow (the first dummy_hash() too); keep it off the event loop.
    good = await asyncio.to_thread(_verify, stored, password)
    if row is None or not good or row[4]:
        return None
    return Principal(int(row[0]), str(row[1]), str(row[2]))


async def new_session(conn: AsyncConn, settings: Settings, principal: Principal) -> Session:
    token = new_token(32)
    await conn.execute(
        "INSERT INTO hub.refresh_tokens (user_id, token_hash, expires_at) "
        "VALUES (%s, %s, now() + %s)",
        (principal.user_id, token_digest(token), timedelta(hours=settings.refresh_token_hours)))
    return Session(principal, token)


async def rotate(conn: AsyncConn, settings: Settings, refresh_token: str) -> RefreshOutcome:
    """Exchange a refresh token for a new one (call inside a transaction)."""
    cur = await conn.execute(
        "SELECT rt.id, rt.expires_at < now(), rt.revoked_at IS NOT NULL, rt.replaced_by IS NOT NULL, "
        "u.id, u.username, u.role, "
        "u.disabled FROM hub.refresh_tokens rt JOIN hub.users u ON u.id = rt.user_id "
        "WHERE rt.token_hash = %s FOR UPDATE OF rt", (token_digest(refresh_token),))
    row = await cur.fetchone()
    if row is None:
        return RefreshOutcome(None, "unknown")
    token_id, expired, revoked, rotated, user_id, username, role, disabled = row
    principal = Principal(int(user_id), str(username), str(role))
    if rotated:
        # A token already exchanged comes back: someone holds a copy.
        await revoke_all(conn, principal.user_id)
        await audit.append(conn, actor=principal.username, action="auth.refresh_reused",
                           target=principal.username, details={"token_id": token_id})
        return RefreshOutcome(None, "reused")
    if revoked:
        return RefreshOutcome(None, "revoked")
    if expired:
        return RefreshOutcome(None, "expired")
    if disabled:
        return RefreshOutcome(None, "disabled")
    session = await new_session(conn, settings, principal)
    await conn.execute(
        "UPDATE hub.refresh_tokens SET revoked_at = now(), replaced_by = "
        "(SELECT id FROM hub.refresh_tokens WHERE token_hash = %s) WHERE id = %s",
        (token_digest(session.refresh_token), token_id))
    return RefreshOutcome(session, "ok")


async def revoke(conn: AsyncConn, user_id: int, refresh_token: str) -> bool:
    cur = await conn.execute(
        "UPDATE hub.refresh_tokens SET revoked_at = now() WHERE token_hash = %s AND user_id = %s "
        "AND revoked_at IS NULL", (token_digest(refresh_token), user_id))
    return cur.rowcount > 0


async def revoke_all(conn: AsyncConn, user_id: int) -> int:
    cur = await conn.execute(REVOKE_SESSIONS, (user_id,))
    return cur.rowcount
