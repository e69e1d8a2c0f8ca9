"""Who is on the other end: the client's address and scheme, believing proxies only if trusted.

Behind a reverse proxy every request comes from the proxy's address, so login
throttling would lump all users together. The proxy says who the client was in
``Forwarded`` (RFC 7239) or ``X-Forwarded-For``, and whether it spoke TLS in
``X-Forwarded-Proto`` — but anyone can send those headers, so they count only when
the peer is in ``CITYHUB_TRUSTED_PROXIES``. The forwarded chain is read from the
right (the hop nearest to us) and every trusted hop is skipped: the first address
that is not a trusted proxy is the client. A hop that is not an address (``unknown``,
an obfuscated name) ends the walk at the last address known, so such clients share it.
"""

from __future__ import annotations

import ipaddress
import re

from starlette.requests import HTTPConnection

from hub.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_FORWARDED_FOR = re.compile(r'(?:^|[;,\s])for=("[^"]*"|[^;,\s]*)', re.IGNORECASE)
_FORWARDED_PROTO = re.compile(r'(?:^|[;,\s])proto=("[^"]*"|[^;,\s]*)', re.IGNORECASE)


def _parse_address(text: str) -> Address | None:
    """An address from a forwarded hop: ``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]:443``."""
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        value = value[1:value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address: Address | None, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in net for net in networks)


def _forwarded_chain(conn: HTTPConnection) -> list[str]:
    forwarded = conn.headers.getlist("forwarded")
    if forwarded:
        return [m.group(1) for value in forwarded for m in _FORWARDED_FOR.finditer(value)]
    return [hop for value in conn.headers.getlist("x-forwarded-for") for hop in value.split(",")]


def client_address(conn: HTTPConnection, settings: Settings) -> str:
    """The client's address as text (``"unknown"`` only when the server has no peer address)."""
    peer_text = conn.client.host if conn.client else "unknown"
    networks = settings.trusted_proxy_networks
    known = _parse_address(peer_text)
    if not _trusted(known, networks):
        return peer_text
    for hop in reversed(_forwarded_chain(conn)):
        address = _parse_address(hop)
        if address is None:
            break
        known = address
        if not _trusted(address, networks):
            break
    return str(known)


def is_https(conn: HTTPConnection, settings: Settings) -> bool:
    """Whether the client reached us over TLS (as a trusted proxy says, or as we served it)."""
    return is_https_via(conn, settings.trusted_proxy_networks)


def is_https_via(conn: HTTPConnection, networks: tuple[Network, ...]) -> bool:
    """:func:`is_https` with the trusted proxies' *networks* already parsed."""
    if conn.scope.get("scheme") in ("https", "wss"):
        return True
    if not networks or not _trusted(_parse_address(conn.client.host if conn.client else ""), networks):
        return False
    forwarded = conn.headers.get("forwarded")
    if forwarded:
        protos = [m.group(1).strip('"').lower() for m in _FORWARDED_PROTO.finditer(forwarded)]
        return bool(protos) and protos[0] == "https"
    proto = conn.headers.get("x-forwarded-proto", "")
    # The first value is what the client used at the outermost proxy.
    return proto.split(",")[0].strip().lower() == "https"
