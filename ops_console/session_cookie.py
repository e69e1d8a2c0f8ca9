"""The web page's refresh token: an HttpOnly cookie that no script on the page can read.

The page keeps its access token in memory only; after a reload it asks
``POST /api/v1/auth/refresh`` for a new one, and the browser sends this cookie.
The cookie is ``HttpOnly`` (invisible to scripts), ``SameSite=Strict`` (never sent
by another site's page), scoped to ``/api/v1/auth`` and ``Secure`` whenever the
client came over TLS. A refresh by cookie must also carry the header
``X-Requested-With: cityhub`` (a cross-site form cannot set one, and a cross-site
script cannot without a CORS preflight the console never answers) and, when the
browser sends an ``Origin``, come from the console's own origin.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, Response, status

from hub.settings import Settings
from ops_console.client_address import is_https

COOKIE = "cityhub_refresh"
PATH = "/api/v1/auth"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "cityhub"


def set_refresh_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    response.set_cookie(COOKIE, token, max_age=settings.refresh_token_hours * 3600, path=PATH,
                        httponly=True, samesite="strict", secure=is_https(request, settings))


def clear_cookie_header(request: Request, settings: Settings) -> str:
    """A ``Set-Cookie`` value that removes the cookie (for error answers, which build their own)."""
    scratch = Response()
    scratch.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                          secure=is_https(request, settings))
    return scratch.headers["set-cookie"]


def clear_refresh_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.headers.append("set-cookie", clear_cookie_header(request, settings))


def _own_origin(request: Request, settings: Settings) -> str:
    scheme = "https" if is_https(request, settings) else "http"
    return f"{scheme}://{request.headers.get('host', '')}"


def cookie_token(request: Request, settings: Settings) -> str | None:
    """The refresh token of a same-origin cookie request; 403 if it lacks the CSRF guards."""
    token = request.cookies.get(COOKIE)
    if token is None:
        return None
    if request.headers.get(CSRF_HEADER, "").lower() != CSRF_VALUE:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"A refresh by cookie needs the header X-Requested-With: {CSRF_VALUE}.")
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") not in (_own_origin(request, settings),
                                                         *settings.console_origin_list):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "A refresh by cookie must come from the console's page.")
    return token
