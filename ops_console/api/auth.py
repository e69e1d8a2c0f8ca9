"""Login, token refresh and logout (``/api/v1/auth``).

Scripts get both tokens in the JSON body. The web page asks for its refresh token
as an HttpOnly cookie instead (``"refresh_token_in": "cookie"``), so no script on
the page ever sees it (ops_console/session_cookie.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from hub import audit
from hub.users import ROLES
from ops_console import accounts, throttle
from ops_console.auth import Principal, Unauthorized, issue_access_token, public, require_roles
from ops_console.client_address import client_address
from ops_console.db import DbConn, SettingsDep
from ops_console.errors import LoginThrottled
from ops_console.session_cookie import (
    COOKIE,
    clear_cookie_header,
    clear_refresh_cookie,
    cookie_token,
    set_refresh_cookie,
)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    refresh_token_in: Literal["body", "cookie"] = Field(
        default="body", description="Where the refresh token goes: the JSON answer (scripts) or an "
                                    "HttpOnly cookie (the web page).")


class RefreshIn(BaseModel):
    refresh_token: str | None = Field(default=None, min_length=1, max_length=512,
                                      description="Omit to use the cookie set at login.")


class LogoutIn(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=512)
    everywhere: bool = Field(default=False, description="End every session of the caller.")


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str | None = Field(description="null when the refresh token went into the cookie")
    token_type: str = "bearer"
    expires_in: int
    username: str
    role: str


class MeOut(BaseModel):
    user_id: int
    username: str
    role: str


def _tokens(settings: SettingsDep, session: accounts.Session, *, in_body: bool) -> TokenOut:
    return TokenOut(access_token=issue_access_token(settings, session.principal),
                    refresh_token=session.refresh_token if in_body else None,
                    expires_in=settings.access_token_minutes * 60,
                    username=session.principal.username, role=session.principal.role)


@router.post("/login", dependencies=[Depends(public())], responses={401: {}, 429: {}})
async def login(body: LoginIn, request: Request, response: Response, conn: DbConn,
                settings: SettingsDep) -> TokenOut:
    """Exchange a username and password for an access token and a refresh token."""
    ip = client_address(request, settings)
    await throttle.forget_old(conn, settings)
    throttled: LoginThrottled | None = None
    # The check and the reservation of this attempt are one transaction under the keys' row
    # locks, so concurrent guesses are counted one after another (ops_console/throttle.py).
    async with conn.transaction():
        try:
            await throttle.reserve(conn, settings, body.username, ip)
        except LoginThrottled as exc:
            throttled = exc
    if throttled is not None:
        async with conn.transaction():
            await audit.append(conn, actor=body.username, action="auth.login_throttled",
                               target=body.username, details={"client_ip": ip})
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(throttled),
                            headers={"Retry-After": str(throttled.retry_after)})
    principal = await accounts.authenticate(conn, body.username, body.password)
    async with conn.transaction():
        await accounts.record_attempt(conn, body.username, ip, principal is not None)
        if principal is None:
            await audit.append(conn, actor=body.username, action="auth.login_failed",
                               target=body.username, details={"client_ip": ip})
        else:
            await throttle.succeeded(conn, body.username, ip)
            await audit.append(conn, actor=principal.username, action="auth.login",
                               target=principal.username, details={"client_ip": ip})
            session = await accounts.new_session(conn, settings, principal)
    if principal is None:
        raise Unauthorized("Wrong username or password, or the account is disabled.")
    if body.refresh_token_in == "cookie":
        set_refresh_cookie(response, request, settings, session.refresh_token)
    return _tokens(settings, session, in_body=body.refresh_token_in == "body")


_REFRESH_REFUSED = {
    "unknown": "The refresh token is not valid.",
    "expired": "The refresh token has expired; log in again.",
    "reused": "The refresh token was used already; every session of this account has been ended, "
              "log in again.",
    "revoked": "The session has ended (logout, password change or disabled account); log in again.",
    "disabled": "The account is disabled.",
}


@router.post("/refresh", dependencies=[Depends(public())], responses={401: {}, 403: {}})
async def refresh(request: Request, response: Response, conn: DbConn, settings: SettingsDep,
                  body: Annotated[RefreshIn | None, Body()] = None) -> TokenOut:
    """Exchange a refresh token (in the body, or the login cookie) for new tokens.

    The old refresh token stops working. By cookie, the new one goes into the cookie
    and the request needs ``X-Requested-With: cityhub``.
    """
    by_cookie = body is None or body.refresh_token is None
    token = cookie_token(request, settings) if by_cookie else (body.refresh_token if body else None)
    if token is None:
        raise Unauthorized("No refresh token: send it in the body or log in from the page again.")
    async with conn.transaction():
        outcome = await accounts.rotate(conn, settings, token)
    if outcome.session is None:
        headers = {"WWW-Authenticate": "Bearer"}
        if by_cookie:
            headers["Set-Cookie"] = clear_cookie_header(request, settings)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _REFRESH_REFUSED[outcome.reason], headers=headers)
    if by_cookie:
        set_refresh_cookie(response, request, settings, outcome.session.refresh_token)
    return _tokens(settings, outcome.session, in_body=not by_cookie)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, conn: DbConn, settings: SettingsDep,
                 principal: Annotated[Principal, Depends(require_roles(*ROLES))],
                 body: Annotated[LogoutIn | None, Body()] = None) -> Response:
    """End a session: the refresh token given, else the cookie's, else every session of the caller.

    ``{"everywhere": true}`` ends every session of the caller in any case. The cookie
    is cleared.
    """
    given = body.refresh_token if body is not None else None
    token = given or request.cookies.get(COOKIE)
    async with conn.transaction():
        if (body is not None and body.everywhere) or token is None:
            ended = await accounts.revoke_all(conn, principal.user_id)
        else:
            ended = int(await accounts.revoke(conn, principal.user_id, token))
        await audit.append(conn, actor=principal.username, action="auth.logout",
                           target=principal.username, details={"sessions_ended": ended})
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_refresh_cookie(response, request, settings)
    return response


@router.get("/me")
async def me(principal: Annotated[Principal, Depends(require_roles(*ROLES))]) -> MeOut:
    """Who the token belongs to."""
    return MeOut(user_id=principal.user_id, username=principal.username, role=principal.role)
