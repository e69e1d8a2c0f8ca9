"""Security headers on every HTTP answer, and a strict Content-Security-Policy.

The page loads only its own files (no inline scripts, styles or event handlers, no
CDN), so the policy can forbid everything else: a script injected into the page
could neither run inline code nor send data anywhere but back to the console.
``connect-src`` names the live view's ``ws:``/``wss:`` URL of the same host because
older browsers do not count WebSockets as ``'self'``.

FastAPI's ``/docs`` page loads Swagger UI from a CDN with an inline script, so it
gets the other headers but not the policy (it is a developer's page; the operators'
page is ``/``).
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.settings import Settings
from ops_console.client_address import is_https_via

_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")
_WITHOUT_POLICY = frozenset({"/docs", "/docs/oauth2-redirect"})

STATIC_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy(host: str | None) -> str:
    """The policy; *host* (the request's Host header, if well-formed) adds its WebSocket URLs."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.fullmatch(host) else ""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"font-src 'self'; connect-src 'self'{sockets}; object-src 'none'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def security_headers(path: str, host: str | None, https: bool) -> dict[str, str]:
    """The headers added to an answer on *path* for a request with this Host header."""
    extra = dict(STATIC_HEADERS)
    if path not in _WITHOUT_POLICY:
        extra["content-security-policy"] = content_security_policy(host)
    if https:
        extra["strict-transport-security"] = HSTS
    return extra


class SecurityHeaders:
    """ASGI middleware adding the headers to HTTP responses (WebSockets pass through)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.networks = settings.trusted_proxy_networks  # parsed once, not per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        extra = security_headers(scope["path"], conn.headers.get("host"), is_https_via(conn, self.networks))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
