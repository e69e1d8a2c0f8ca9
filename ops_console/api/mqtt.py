"""/api/v1/mqtt/auth and /acl: HTTP authentication and authorisation for EMQX 5.

The broker, not a user, calls these, sending ``CITYHUB_BROKER_AUTH_SECRET`` as a
bearer token. Answers follow EMQX 5's HTTP authenticator and authorizer: status
200 with ``{"result": "allow" | "deny", "is_superuser": false}``. A request with
missing fields is answered "deny", never a 4xx: EMQX treats any other status as
"ignore", which a broker without ``no_match = deny`` would turn into "allow".
A field holding a NUL character is answered "deny" for the same reason: no
username, password or topic contains one, and PostgreSQL text cannot hold it.
The rules are hub/mqtt_access.py's, the same as the Mosquitto files'.

Device tokens are checked against their HMAC under ``CITYHUB_DEVICE_TOKEN_KEY``
(hub/device_tokens.py): a few microseconds, so a reconnect storm costs the database
look-up and the HTTP round, not CPU-minutes of argon2 (docs/console.md). The look-ups
of logins that arrive together share one query (hub/device_lookups.py), and the requests
EMQX sends are answered before FastAPI's stack (ops_console/broker_login.py); this
module's routes answer the rest (a wrong secret, a body that does not parse).
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.dependencies.utils import get_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.datastructures import State
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from hub import mqtt_access
from hub.device_lookups import DeviceLookups
from hub.device_tokens import TokenKeys
from hub.errors import DatabaseUnavailable
from hub.settings import Settings
from ops_console.auth import require_broker
from ops_console.db import DbConn, get_settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/mqtt", tags=["mqtt broker"])
Broker = Annotated[None, Depends(require_broker())]


class AuthIn(BaseModel):
    username: str = ""
    password: str = ""
    clientid: str = ""


class AclIn(BaseModel):
    username: str = ""
    topic: str = ""
    action: str = ""
    clientid: str = ""


class AuthOut(BaseModel):
    result: Literal["allow", "deny"]
    is_superuser: bool = False


class AclOut(BaseModel):
    result: Literal["allow", "deny"]


def _has_nul(*values: str) -> bool:
    return any("\x00" in v for v in values)


def device_token_keys(state: State, settings: Settings) -> TokenKeys | None:
    """The settings' device-token keys, parsed on the first login and kept in the app's *state*."""
    if not hasattr(state, "device_token_keys"):
        keys = settings.device_token_keys()
        if keys is None:
            log.warning("CITYHUB_DEVICE_TOKEN_KEY is not set: device logins are checked with "
                        "argon2 (slow) and devices hashed under a key are refused")
        state.device_token_keys = keys
    found: TokenKeys | None = state.device_token_keys
    return found


async def token_keys(request: Request) -> TokenKeys | None:
    return device_token_keys(request.app.state, get_settings(request))


def get_lookups(request: Request) -> DeviceLookups:
    """The app's batched device look-ups (made with the pool, in the lifespan)."""
    lookups: DeviceLookups = request.app.state.device_lookups
    return lookups


async def login_allowed(lookups: DeviceLookups, username: str, password: str, clientid: str,
                        keys: TokenKeys | None) -> bool:
    """May this username and password connect? Raises DatabaseUnavailable."""
    if _has_nul(username, password, clientid):
        log.info("broker login refused: a field contains NUL")
        return False
    try:
        identity = await mqtt_access.authenticate_batched(lookups, username, password, keys)
    except psycopg.OperationalError as exc:  # a service account's or a re-hash's own connection
        raise DatabaseUnavailable(f"The database is unavailable: {type(exc).__name__}.") from exc
    if identity is None:
        log.info("broker login refused for %r", username[:128])
        return False
    return True


async def check_login(lookups: DeviceLookups, body: AuthIn, keys: TokenKeys | None) -> AuthOut:
    allowed = await login_allowed(lookups, body.username, body.password, body.clientid, keys)
    return AuthOut(result="allow" if allowed else "deny")


_GUARD = require_broker()
_bearer = HTTPBearer(auto_error=False)  # as the guard's own dependency reads the header


async def fast_auth(request: Request) -> Response:
    """POST /api/v1/mqtt/auth as routed: :func:`mqtt_auth`'s answers without FastAPI's
    per-request machinery (an APIRoute, even with no dependencies, doubled the console's CPU
    per login; docs/console.md). Same guard, same validation errors (422), same answers.
    What EMQX sends is answered before the app's stack (ops_console/broker_login.py); the
    requests that path hands over come here."""
    await _GUARD(request, await _bearer(request))
    try:
        body = AuthIn.model_validate_json(await request.body() or b"null")
    except ValidationError as exc:
        # Not JSON: pydantic's error holds the raw body, which FastAPI's 422 handler cannot
        # encode unless it is UTF-8 (a 500) and which may hold a password; as an APIRoute
        # answers, the input is left out.
        raise RequestValidationError([
            {**e, "loc": ("body", *e["loc"])} | ({"input": {}} if isinstance(e["input"], bytes) else {})
            for e in exc.errors(include_url=False)]) from None
    answer = await check_login(get_lookups(request), body, await token_keys(request))
    return Response(answer.model_dump_json(), media_type="application/json")


def _declared_guard(_: Annotated[None, Depends(_GUARD)]) -> None:
    """Never called: declares fast_auth's guard the way an APIRoute's is declared."""


class _GuardedRoute(Route):
    """A plain Starlette route that shows its guard as an APIRoute does (``dependant``), so
    an inventory of the app's routes and guards (tests/ops_console/test_roles.py) sees it;
    its handler runs the guard itself."""

    def __init__(self, path: str) -> None:
        super().__init__(path, fast_auth, methods=["POST"], include_in_schema=False)
        self.dependant = get_dependant(path=path, call=_declared_guard)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            # As an APIRoute does: the metrics label answers by this template, not "unmatched".
            child["route"] = self
        return match, child


def install_fast_auth(app: FastAPI) -> None:
    """Put :func:`fast_auth` first among *app*'s routes, so it answers POST /api/v1/mqtt/auth;
    :func:`mqtt_auth`, behind it, describes the endpoint in the OpenAPI document."""
    app.router.routes.insert(0, _GuardedRoute(f"{router.prefix}/auth"))


@router.post("/auth")
async def mqtt_auth(_: Broker, body: AuthIn,
                    lookups: Annotated[DeviceLookups, Depends(get_lookups)],
                    keys: Annotated[TokenKeys | None, Depends(token_keys)]) -> AuthOut:
    """May this username and password connect? (EMQX HTTP authenticator.)"""
    return await check_login(lookups, body, keys)


@router.post("/acl")
async def mqtt_acl(_: Broker, body: AclIn, conn: DbConn) -> AclOut:
    """May this username publish to / subscribe to this topic? (EMQX HTTP authorizer.)"""
    if (body.action not in ("publish", "subscribe") or not body.topic
            or _has_nul(body.username, body.topic, body.clientid)):
        return AclOut(result="deny")
    identity = await mqtt_access.identity_async(conn, body.username)
    if identity is None:
        return AclOut(result="deny")
    if body.action == "publish":
        allowed = mqtt_access.may_publish(identity, body.topic)
    else:
        allowed = mqtt_access.may_subscribe(identity, body.topic)
    return AclOut(result="allow" if allowed else "deny")
