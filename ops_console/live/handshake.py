"""Who may open the live view: the token and Origin rules of the /ws handshake (pure).

A browser cannot set an Authorization header on a WebSocket, so the access token
travels as a subprotocol (``new WebSocket(url, ["cityhub.v1", "bearer." + token])``);
other clients may use the ``Authorization: Bearer`` header or a ``token`` query
parameter (which ends up in access logs: prefer the other two). The Origin check
stops another web site from opening the socket with an operator's browser
(cross-site WebSocket hijacking): a browser always sends Origin; clients that send
none (scripts, the benchmark) are admitted on their token alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from hub.users import OPERATIONS_ROLES

SUBPROTOCOL = "cityhub.v1"
TOKEN_PREFIX = "bearer."
LIVE_ROLES = OPERATIONS_ROLES


@dataclass(frozen=True, slots=True)
class Credentials:
    token: str | None
    subprotocol: str | None  # what the server must echo when the client offered any


def credentials(
    headers: Mapping[str, str], query: Mapping[str, str], offered: Iterable[str]
) -> Credentials:
    offered = [p.strip() for p in offered if p.strip()]
    token: str | None = None
    for protocol in offered:
        if protocol.startswith(TOKEN_PREFIX):
            token = protocol[len(TOKEN_PREFIX):]
    if token is None:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
    if token is None and query.get("token"):
        token = query["token"]
    chosen = SUBPROTOCOL if SUBPROTOCOL in offered else None
    return Credentials(token or None, chosen)


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str]) -> bool:
    """True for no Origin, the console's own origin, or one of *allowed*."""
    if origin is None:
        return True
    origin = origin.strip().rstrip("/")
    if origin.lower() in {a.lower() for a in allowed}:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    # Same host and port as the page the console served; the scheme may differ behind a
    # TLS-terminating proxy.
    return host is not None and parts.netloc.lower() == host.strip().lower()
