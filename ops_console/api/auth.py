"""Login, token refresh and logout (``/api/v1/auth``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from hub import audit
from hub.users import ROLES
from ops_console import accounts
from ops_console.auth import Principal, Unauthorized, issue_access_token, public, require_roles
from ops_console.db import DbConn, SettingsDep
from ops_console.errors import LoginThrottled

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class LogoutIn(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=512)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class MeOut(BaseModel):
    user_id: int
    username: str
    role: str


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _tokens(settings: SettingsDep, session: accounts.Session) -> TokenOut:
    return TokenOut(access_token=issue_access_token(settings, session.principal),
                    refresh_token=session.refresh_token, expires_in=settings.access_token_minutes * 60,
                    role=session.principal.role)


@router.post("/login", dependencies=[Depends(public())], responses={401: {}, 429: {}})
async def login(body: LoginIn, request: Request, conn: DbConn, settings: SettingsDep) -> TokenOut:
    """Exchange a username and password for an access token and a refresh token."""
    ip = _client_ip(request)
    throttled: LoginThrottled | None = None
    async with conn.transaction():
        try:
            await accounts.check_throttle(conn, settings, body.username, ip)
        except LoginThrottled as exc:
            await audit.append(conn, actor=body.username, action="auth.login_throttled",
                               target=body.username, details={"client_ip": ip})
            throttled = exc
    if throttled is not None:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(throttled),
                            headers={"Retry-After": str(throttled.retry_after)})
    principal = await accounts.authenticate(conn, body.username, body.password)
    async with conn.transaction():
        await accounts.record_attempt(conn, body.username, ip, principal is not None)
        if principal is None:
            await audit.append(conn, actor=body.username, action="auth.login_failed",
                               target=body.username, details={"client_ip": ip})
        else:
            await audit.append(conn, actor=principal.username, action="auth.login",
                               target=principal.username, details={"client_ip": ip})
            session = await accounts.new_session(conn, settings, principal)
    if principal is None:
        raise Unauthorized("Wrong username or password, or the account is disabled.")
    return _tokens(settings, session)


@router.post("/refresh", dependencies=[Depends(public())], responses={401: {}})
async def refresh(body: RefreshIn, conn: DbConn, settings: SettingsDep) -> TokenOut:
    """Exchange a refresh token for new tokens; the old refresh token stops working."""
    async with conn.transaction():
        outcome = await accounts.rotate(conn, settings, body.refresh_token)
    if outcome.session is None:
        reasons = {"unknown": "The refresh token is not valid.",
                   "expired": "The refresh token has expired; log in again.",
                   "reused": "The refresh token was used already; every session of this account "
                             "has been ended, log in again.",
                   "revoked": "The session has ended (logout, password change or disabled "
                              "account); log in again.",
                   "disabled": "The account is disabled."}
        raise Unauthorized(reasons[outcome.reason])
    return _tokens(settings, outcome.session)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: LogoutIn, conn: DbConn,
                 principal: Annotated[Principal, Depends(require_roles(*ROLES))]) -> Response:
    """End a session (the refresh token given) or, without one, every session of the caller."""
    async with conn.transaction():
        if body.refresh_token is None:
            ended = await accounts.revoke_all(conn, principal.user_id)
        else:
            ended = int(await accounts.revoke(conn, principal.user_id, body.refresh_token))
        await audit.append(conn, actor=principal.username, action="auth.logout",
                           target=principal.username, details={"sessions_ended": ended})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
async def me(principal: Annotated[Principal, Depends(require_roles(*ROLES))]) -> MeOut:
    """Who the token belongs to."""
    return MeOut(user_id=principal.user_id, username=principal.username, role=principal.role)
