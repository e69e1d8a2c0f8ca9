"""EMQX's login checks (POST /api/v1/mqtt/auth) answered before the app's ASGI stack.

A reconnect storm is every device asking at once, and the stack (FastAPI's and
Starlette's layers, the metrics, security-header and NUL-guard middlewares, routing,
pydantic) cost the console more CPU per check than the check itself
(docs/benchmarks.md, "Device credentials"). :class:`BrokerLogins` answers the request
EMQX sends — the broker secret as bearer token, no query string, a small JSON body of
strings — itself, with the answer, headers and metrics the stack would give:

- the answer of :func:`ops_console.api.mqtt.login_allowed`, the routes' own;
- the security headers (ops_console/security_headers.py), worked out once per Host;
- the request counted in ``cityhub_console_requests`` under the route's template.

Anything else is handed to the app with the body read so far replayed, so the routes
answer it as before: a missing or wrong secret (401/403), a body that is not such JSON
(422), a query string (the NUL guard), an unexpected error (500). Nothing is cached:
every answer comes from the database (hub/device_lookups.py).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable

import msgspec
from starlette.datastructures import State
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import DatabaseUnavailable
from hub.settings import Settings
from ops_console.api.mqtt import AuthOut, device_token_keys, login_allowed, router
from ops_console.client_address import is_https_via
from ops_console.metrics import RequestMetrics
from ops_console.security_headers import security_headers

PATH = f"{router.prefix}/auth"
MAX_BODY = 4096  # EMQX's body is three short strings; a larger one goes the long way
_HOSTS_KEPT = 64  # Host values whose headers are kept worked out

_Headers = list[tuple[bytes, bytes]]
# The route's own answers (AuthOut), serialised once.
_ANSWERS = {allowed: AuthOut(result="allow" if allowed else "deny").model_dump_json().encode()
            for allowed in (True, False)}


class _Login(msgspec.Struct):
    """What ops_console.api.mqtt.AuthIn takes; unknown fields are ignored as there."""

    username: str = ""
    password: str = ""
    clientid: str = ""


_decode = msgspec.json.Decoder(_Login).decode


class BrokerLogins:
    """The fast path; *state* is the app's (its lookups and token keys)."""

    def __init__(self, state: State, settings: Settings, metrics: RequestMetrics) -> None:
        self.state = state
        self.settings = settings
        self.metrics = metrics
        secret = settings.broker_auth_secret.get_secret_value()
        # A secret that is not ASCII is compared as the guard does it, on the long way.
        self._expected = b"Bearer " + secret.encode() if secret and secret.isascii() else None
        self._networks = settings.trusted_proxy_networks
        self._headers: dict[tuple[bytes | None, bool], _Headers] = {}
        self._recorders: dict[int, Callable[[float], None]] = {}

    def handles(self, scope: Scope) -> bool:
        return (self._expected is not None and scope["type"] == "http" and scope["path"] == PATH
                and scope["method"] == "POST" and not scope.get("query_string")
                and not scope.get("root_path"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Answer the request, or hand it to *app* (the full stack)."""
        started = time.monotonic()
        authorization, host = _two_headers(scope)
        assert self._expected is not None
        if authorization is None or not hmac.compare_digest(authorization, self._expected):
            await app(scope, receive, send)
            return
        body, messages = await _read_body(receive)
        login = _parse(body)
        if login is None:
            await app(scope, _replay(messages, receive), send)
            return
        status, answer = 200, b""
        try:
            keys = device_token_keys(self.state, self.settings)
            allowed = await login_allowed(self.state.device_lookups, login.username, login.password,
                                          login.clientid, keys)
            answer = _ANSWERS[allowed]
        except DatabaseUnavailable as exc:
            # As the app's handler of HubError words it (a JSONResponse).
            status = 503
            answer = json.dumps({"detail": str(exc)}, ensure_ascii=False, separators=(",", ":")).encode()
        except Exception:
            # The stack answers as it would any error (logged, 500), and counts it.
            await app(scope, _replay(messages, receive), send)
            return
        sent = 500
        try:
            headers = [(b"content-length", str(len(answer)).encode()),
                       (b"content-type", b"application/json"), *self._security(scope, host)]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            sent = status
            await send({"type": "http.response.body", "body": answer})
        finally:
            record = self._recorders.get(sent)
            if record is None:
                record = self._recorders[sent] = self.metrics.recorder("POST", PATH, sent)
            record(time.monotonic() - started)

    def _security(self, scope: Scope, host: bytes | None) -> _Headers:
        https = scope["scheme"] == "https" or (
            bool(self._networks) and is_https_via(HTTPConnection(scope), self._networks))
        found = self._headers.get((host, https))
        if found is None:
            if len(self._headers) >= _HOSTS_KEPT:
                self._headers.clear()
            text = host.decode("latin-1") if host is not None else None
            found = [(k.encode("latin-1"), v.encode("latin-1"))
                     for k, v in security_headers(PATH, text, https).items()]
            self._headers[(host, https)] = found
        return found


def _two_headers(scope: Scope) -> tuple[bytes | None, bytes | None]:
    """The first Authorization and Host headers, as the stack's Headers.get reads them."""
    authorization = host = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"host" and host is None:
            host = value
    return authorization, host


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    """The whole body (None if it is larger than MAX_BODY or the client left) and the
    messages read, to replay."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            return None, messages
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in messages), messages


def _parse(body: bytes | None) -> _Login | None:
    if not body:
        return None
    try:
        return _decode(body)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
