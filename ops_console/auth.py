"""Who may call what: access tokens (JWT HS256) and the role declaration of every endpoint.

Every route declares its callers through exactly one guard, which the route test
(tests/ops_console/test_roles.py) finds on each route and checks:

- ``require_roles("operator", "admin")`` — a valid access token of one of these
  roles; 401 without or with a bad token, 403 for another role;
- ``require_broker()`` — the MQTT broker, which sends ``CITYHUB_BROKER_AUTH_SECRET``
  as a bearer token (users' tokens get 403);
- ``public()`` — anyone (login, refresh, health checks).

Use it as ``principal: Annotated[Principal, Depends(require_roles(...))]`` or in a
decorator's ``dependencies=[Depends(...)]``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.settings import Settings
from hub.users import ROLES

ALGORITHM = "HS256"
_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/login.")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: str


class Unauthorized(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def issue_access_token(settings: Settings, principal: Principal, *, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": principal.username,
        "uid": principal.user_id,
        "role": principal.role,
        "iat": issued,
        "exp": issued + settings.access_token_minutes * 60,
        "jti": secrets.token_hex(12),
        "typ": "access",
    }
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)


@dataclass(frozen=True, slots=True)
class AccessToken:
    principal: Principal
    expires_at: float  # the token's exp, seconds since the epoch


def read_access_token(settings: Settings, token: str) -> AccessToken:
    """The principal and expiry of a valid access token; :class:`Unauthorized` otherwise."""
    try:
        claims = jwt.decode(token, settings.secret_key.get_secret_value(), algorithms=[ALGORITHM],
                            options={"require": ["exp", "iat", "sub", "uid", "role", "typ"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired; refresh it or log in again.") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The access token is not valid.") from None
    uid, role, sub = claims.get("uid"), claims.get("role"), claims.get("sub")
    if (claims.get("typ") != "access" or not isinstance(uid, int) or role not in ROLES
            or not isinstance(sub, str)):
        raise Unauthorized("The access token is not valid.")
    # PyJWT has checked that the required exp is a number (and not past).
    return AccessToken(Principal(uid, sub, str(role)), float(claims["exp"]))


def decode_access_token(settings: Settings, token: str) -> Principal:
    """The principal of a valid access token; :class:`Unauthorized` otherwise."""
    return read_access_token(settings, token).principal


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class Guard:
    """Base of the declarations; ``roles`` are the callers a route admits."""

    roles: frozenset[str]
    public: bool = False


class RoleGuard(Guard):
    def __init__(self, roles: tuple[str, ...]) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise ValueError(f"require_roles needs roles from {ROLES}, got {roles!r}")
        self.roles = frozenset(roles)

    async def __call__(
        self, request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise Unauthorized("This endpoint needs a bearer access token (POST /api/v1/auth/login).")
        principal = decode_access_token(_settings(request), credentials.credentials)
        if principal.role not in self.roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"Role {principal.role!r} may not use this endpoint; allowed: "
                f"{', '.join(sorted(self.roles))}.",
            )
        request.state.principal = principal
        return principal

    def __repr__(self) -> str:
        return f"require_roles{tuple(sorted(self.roles))!r}"


class BrokerGuard(Guard):
    def __init__(self) -> None:
        self.roles = frozenset({"broker"})

    async def __call__(
        self, request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        settings = _settings(request)
        expected = settings.broker_auth_secret.get_secret_value()
        if credentials is None:
            raise Unauthorized("The broker must send CITYHUB_BROKER_AUTH_SECRET as a bearer token.")
        given = credentials.credentials
        if expected and hmac.compare_digest(given.encode(), expected.encode()):
            return
        # A user's valid token is a known caller without the right to act as the broker.
        try:
            decode_access_token(settings, given)
        except HTTPException:
            raise Unauthorized("The broker secret is wrong or CITYHUB_BROKER_AUTH_SECRET is unset.") from None
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only the MQTT broker may use this endpoint.")

    def __repr__(self) -> str:
        return "require_broker()"


class PublicGuard(Guard):
    def __init__(self) -> None:
        self.roles = frozenset()
        self.public = True

    async def __call__(self) -> None:
        return None

    def __repr__(self) -> str:
        return "public()"


def require_roles(*roles: str) -> RoleGuard:
    return RoleGuard(roles)


def require_broker() -> BrokerGuard:
    return BrokerGuard()


def public() -> PublicGuard:
    return PublicGuard()

