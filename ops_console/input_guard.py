"""Bad input the database would choke on, answered 400 before or instead of a 500.

Two layers, both installed by :func:`ops_console.app.create_app`:

- :class:`RejectNul`, an ASGI middleware, refuses a NUL character (``%00``) in the
  path or query string of any HTTP request before routing. PostgreSQL text cannot
  hold NUL and no identifier, filter or time the API takes contains one, so the
  request is refused whole with a reason rather than failing inside a query.
- :func:`bad_data`, an exception handler, answers what only shows up later: a NUL
  in a JSON body string, or a value the database rejects or cannot return (SQLSTATE
  class 22 "data exception", e.g. a date whose day boundary falls before year 1)
  and date arithmetic that overflows Python's range. The reason never repeats the
  value: psycopg's message may quote it.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

NUL_REASON = ("The request's path or query string contains a NUL character (%00), "
              "which no parameter may hold.")
BAD_DATA_REASON = ("A value in the request is not acceptable data: text must not contain NUL "
                   "characters, and dates and numbers must be within range.")


def has_nul(path: str, query_string: bytes) -> bool:
    """Whether the (already decoded) path or the raw query string holds a NUL."""
    return "\x00" in path or "\x00" in unquote(query_string.decode("latin-1"))


class RejectNul:
    """ASGI middleware: HTTP requests with a NUL in the path or query get 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and has_nul(scope["path"], scope.get("query_string", b"")):
            await JSONResponse({"detail": NUL_REASON}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def bad_data(request: Request, exc: Exception) -> JSONResponse:
    """psycopg.DataError and OverflowError raised while serving a request → 400."""
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.info("refused bad data on %s: %s (SQLSTATE %s)", route, type(exc).__name__,
             getattr(exc, "sqlstate", None) if isinstance(exc, psycopg.Error) else None)
    return JSONResponse({"detail": BAD_DATA_REASON}, status_code=400)
