"""The /ws channel protocol: client requests parsed into frozen values (pure).

Client → server, one JSON object per text frame:

    {"op": "subscribe", "channels": ["alerts", "readings:zone:jung-gu"], "since_seq": 41}
    {"op": "unsubscribe", "channels": ["readings:zone:jung-gu"]}
    {"op": "ping"}

Channels: ``alerts``, ``devices`` (connection status), ``kpis``, ``events``,
``events:zone:<zone>``, ``readings:zone:<zone>``, ``readings:device:<device id>``.
A request that cannot be understood gets ``{"type": "error", "reason": …}`` and the
connection stays open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

FIXED_CHANNELS = frozenset({"alerts", "devices", "kpis", "events"})
_PARAM_CHANNEL = re.compile(
    r"^(readings:zone|readings:device|events:zone):[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MAX_CHANNELS = 200
MAX_FRAME = 16_384


class ProtocolError(ValueError):
    """A client request the server cannot act on; the text is sent back as the reason."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    channels: frozenset[str]
    since_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channels: frozenset[str]


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Request = Subscribe | Unsubscribe | Ping


def valid_channel(name: str) -> bool:
    return name in FIXED_CHANNELS or _PARAM_CHANNEL.match(name) is not None


def parse_request(text: str) -> Request:
    if len(text) > MAX_FRAME:
        raise ProtocolError(f"frame too long: at most {MAX_FRAME} characters")
    try:
        data = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError('expected a JSON object like {"op": "subscribe", "channels": ["alerts"]}')
    op = data.get("op")
    if op == "ping":
        return Ping()
    if op not in ("subscribe", "unsubscribe"):
        raise ProtocolError(f"unknown op {op!r}: use subscribe, unsubscribe or ping")
    channels = _channels(data.get("channels"))
    if op == "unsubscribe":
        return Unsubscribe(channels)
    since = data.get("since_seq")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise ProtocolError("since_seq must be a non-negative integer (the last alert seq received)")
    return Subscribe(channels, since)


def _channels(value: object) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise ProtocolError("channels must be a non-empty list of channel names")
    if len(value) > MAX_CHANNELS:
        raise ProtocolError(f"too many channels: at most {MAX_CHANNELS}")
    bad = [c for c in value if not isinstance(c, str) or not valid_channel(c)]
    if bad:
        raise ProtocolError(
            f"unknown channel {str(bad[0])[:80]!r}: use alerts, devices, kpis, events, "
            "events:zone:<zone>, readings:zone:<zone> or readings:device:<device id>"
        )
    return frozenset(value)
