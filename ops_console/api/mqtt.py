"""/api/v1/mqtt/auth and /acl: HTTP authentication and authorisation for EMQX 5.

The broker, not a user, calls these, sending ``CITYHUB_BROKER_AUTH_SECRET`` as a
bearer token. Answers follow EMQX 5's HTTP authenticator and authorizer: status
200 with ``{"result": "allow" | "deny", "is_superuser": false}``. A request with
missing fields is answered "deny", never a 4xx: EMQX treats any other status as
"ignore", which a broker without ``no_match = deny`` would turn into "allow".
A field holding a NUL character is answered "deny" for the same reason: no
username, password or topic contains one, and PostgreSQL text cannot hold it.
The rules are hub/mqtt_access.py's, the same as the Mosquitto files'.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from hub import mqtt_access
from ops_console.auth import require_broker
from ops_console.db import DbConn

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


@router.post("/auth")
async def mqtt_auth(_: Broker, body: AuthIn, conn: DbConn) -> AuthOut:
    """May this username and password connect? (EMQX HTTP authenticator.)"""
    if _has_nul(body.username, body.password, body.clientid):
        log.info("broker login refused: a field contains NUL")
        return AuthOut(result="deny")
    identity = await mqtt_access.authenticate_async(conn, body.username, body.password)
    if identity is None:
        log.info("broker login refused for %r", body.username[:128])
        return AuthOut(result="deny")
    return AuthOut(result="allow")


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
