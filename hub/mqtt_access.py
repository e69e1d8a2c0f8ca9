"""Who may log in to the broker and where each account may publish and subscribe.

The rules are pure functions over topic strings, so the Mosquitto ACL file that
``cityhub broker config`` writes (hub/broker_files.py) and the HTTP auth/ACL
endpoints used by EMQX both follow them; a test checks the two agree on a table
of topics.

- A device (username = device id, password = its token) publishes only
  ``cityhub/v1/<id>/telemetry|events|status`` and, when it is a gateway,
  ``cityhub/v1/gateway/<id>/telemetry``; it subscribes only ``cityhub/v1/<id>/errors``.
- The ingest service (``cityhub-ingest``) reads ``cityhub/v1/#``, directly or through a
  shared subscription ``$share/<group>/cityhub/v1/…``, and publishes ``cityhub/v1/+/errors``.
- The demo simulator (``cityhub-sim``, made by ``cityhub up`` only) publishes anywhere
  under ``cityhub/v1/`` and may read the rejections in ``cityhub/v1/+/errors``.
- The service accounts' names are reserved device ids, so the topics under
  ``cityhub/v1/<service account>/`` belong to no device: nobody publishes or reads them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from hub.credentials import verify_password
from hub.device_lookups import DeviceLookups
from hub.device_tokens import ARGON2_PREFIX, TokenKeys, check, check_unknown

INGEST_ACCOUNT = "cityhub-ingest"
SIM_ACCOUNT = "cityhub-sim"
SERVICE_ROLES: dict[str, Literal["ingest", "simulator"]] = {
    INGEST_ACCOUNT: "ingest",
    SIM_ACCOUNT: "simulator",
}

ROOT = "cityhub/v1"
DEVICE_PUBLISH_CHANNELS = ("telemetry", "events", "status")
GATEWAY_KIND = "gateway"

Role = Literal["device", "ingest", "simulator"]


@dataclass(frozen=True, slots=True)
class MqttIdentity:
    username: str
    role: Role
    device_kind: str | None  # for devices


# --- topic matching (MQTT 3.1.1 §4.7, MQTT 5 §4.7) -------------------------------------


def _has_wildcard(topic: str) -> bool:
    return "+" in topic or "#" in topic


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Does *topic* (a topic name, no wildcards) match *topic_filter*?"""
    filter_levels = topic_filter.split("/")
    levels = topic.split("/")
    for i, level in enumerate(filter_levels):
        if level == "#":
            # '#' also matches the parent level [MQTT-4.7.1-2].
            return i == len(filter_levels) - 1
        if i >= len(levels):
            return False
        if level != "+" and level != levels[i]:
            return False
    return len(levels) == len(filter_levels)


def filter_within(topic_filter: str, allowed: str) -> bool:
    """Is every topic that *topic_filter* matches also matched by the filter *allowed*?"""
    parts = topic_filter.split("/")
    bounds = allowed.split("/")
    for i, bound in enumerate(bounds):
        if bound == "#":
            return True
        if i >= len(parts):
            return False
        part = parts[i]
        if part == "#":
            return False
        if bound == "+":
            continue
        if part == "+" or part != bound:
            return False
    return len(parts) == len(bounds)


def strip_shared(topic_filter: str) -> str | None:
    """The filter behind ``$share/<group>/<filter>`` (MQTT 5 §4.8.2); None if malformed."""
    if not topic_filter.startswith("$share/"):
        return topic_filter
    parts = topic_filter.split("/", 2)
    if len(parts) < 3 or not parts[1] or _has_wildcard(parts[1]) or not parts[2]:
        return None
    return parts[2]


def _valid_name(topic: str) -> bool:
    return bool(topic) and not _has_wildcard(topic) and "\x00" not in topic


def _valid_filter(topic_filter: str) -> bool:
    if not topic_filter or "\x00" in topic_filter:
        return False
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


# --- the rules ---------------------------------------------------------------------------


def publish_topics(identity: MqttIdentity) -> tuple[str, ...]:
    """Topic filters the identity may publish to."""
    if identity.role == "device":
        own = tuple(f"{ROOT}/{identity.username}/{c}" for c in DEVICE_PUBLISH_CHANNELS)
        if identity.device_kind == GATEWAY_KIND:
            own += (f"{ROOT}/gateway/{identity.username}/telemetry",)
        return own
    if identity.role == "ingest":
        return (f"{ROOT}/+/errors",)
    return (f"{ROOT}/#",)


def subscribe_topics(identity: MqttIdentity) -> tuple[str, ...]:
    """Topic filters the identity may subscribe to (or narrower ones within them)."""
    if identity.role == "device":
        return (f"{ROOT}/{identity.username}/errors",)
    if identity.role == "ingest":
        return (f"{ROOT}/#",)
    return (f"{ROOT}/+/errors",)


def _reserved(topic: str) -> bool:
    levels = topic.split("/")
    return len(levels) > 2 and "/".join(levels[:2]) == ROOT and levels[2] in SERVICE_ROLES


def may_publish(identity: MqttIdentity, topic: str) -> bool:
    if not _valid_name(topic) or _reserved(topic):
        return False
    return any(topic_matches(allowed, topic) for allowed in publish_topics(identity))


def may_subscribe(identity: MqttIdentity, topic_filter: str) -> bool:
    inner = strip_shared(topic_filter)
    if inner is None or not _valid_filter(inner) or _reserved(inner):
        return False
    if inner != topic_filter and identity.role != "ingest":
        # Shared subscriptions split a stream among consumers: only ingest consumes.
        return False
    return any(filter_within(inner, allowed) for allowed in subscribe_topics(identity))


# --- logging in --------------------------------------------------------------------------


_SERVICE_QUERY = sql.SQL("SELECT role, password_hash FROM hub.broker_accounts WHERE name = %s")
_DEVICE_QUERY = sql.SQL("SELECT kind, status, token_hash FROM hub.devices WHERE id = %s")
# Compare-and-set: a rotation or revocation meanwhile wins over the upgrade.
_REHASH = sql.SQL("UPDATE hub.devices SET token_hash = %s "
                  "WHERE id = %s AND token_hash = %s AND status = 'active'")

_Found = tuple[Role, str | None, str] | None  # role, device kind, stored hash


@dataclass(frozen=True, slots=True)
class _Decision:
    identity: MqttIdentity | None
    rehash: str | None = None  # the device's token hash to store instead (hub/device_tokens.py)


def _service_row(row: tuple[Any, ...] | None) -> _Found:
    if row is None:
        return None
    role, password_hash = row
    if role not in ("ingest", "simulator"):
        return None
    return role, None, str(password_hash)


def _device_row(row: tuple[Any, ...] | None) -> _Found:
    if row is None:
        return None
    kind, status, token_hash = row
    if status != "active":
        return None
    return "device", str(kind), str(token_hash)


def _slow(found: _Found, keys: TokenKeys | None) -> bool:
    """Will the check run argon2? Then it runs in a worker thread, off the event loop."""
    if found is None:
        return keys is None
    return found[0] != "device" or found[2].startswith(ARGON2_PREFIX)


def _decide(username: str, found: _Found, password: str, keys: TokenKeys | None) -> _Decision:
    if found is None:
        # Unknown users still pay for one check, so the answer time does not tell an
        # attacker which device ids exist.
        check_unknown(keys, password)
        return _Decision(None)
    role, kind, stored = found
    if role != "device":
        # Service passwords may be chosen by an operator: argon2 (hub/credentials.py).
        ok = verify_password(stored, password)
        return _Decision(MqttIdentity(username, role, kind) if ok else None)
    checked = check(keys, stored, password)
    return _Decision(MqttIdentity(username, role, kind) if checked.ok else None, checked.rehash)


async def _decide_async(username: str, found: _Found, password: str,
                        keys: TokenKeys | None) -> _Decision:
    if _slow(found, keys):
        return await asyncio.to_thread(_decide, username, found, password, keys)
    return _decide(username, found, password, keys)


async def _find(conn: psycopg.AsyncConnection[Any], username: str) -> _Found:
    async with conn.cursor(row_factory=tuple_row) as cur:
        if username in SERVICE_ROLES:
            await cur.execute(_SERVICE_QUERY, (username,))
            return _service_row(await cur.fetchone())
        await cur.execute(_DEVICE_QUERY, (username,))
        return _device_row(await cur.fetchone())


async def authenticate_async(
    conn: psycopg.AsyncConnection[Any], username: str, password: str,
    keys: TokenKeys | None = None,
) -> MqttIdentity | None:
    """The identity of a broker login, or None: unknown user, wrong password, revoked device.

    A device's token is checked against its HMAC under *keys* (microseconds, on the event
    loop); an argon2 hash, left from before that scheme, runs in a worker thread and, when
    it matches, is replaced by the HMAC, as is one under an earlier key.
    """
    if not username or not password:
        return None
    found = await _find(conn, username)
    decision = await _decide_async(username, found, password, keys)
    if decision.rehash is not None and found is not None:
        await conn.execute(_REHASH, (decision.rehash, username, found[2]))
    return decision.identity


async def authenticate_batched(
    lookups: DeviceLookups, username: str, password: str, keys: TokenKeys | None = None,
) -> MqttIdentity | None:
    """:func:`authenticate_async`, with a device's row from *lookups*, which serves the
    logins waiting together with one query (hub/device_lookups.py): the same answers."""
    if not username or not password:
        return None
    if username in SERVICE_ROLES:
        async with lookups.connect() as conn:
            return await authenticate_async(conn, username, password, keys)
    found = _device_row(await lookups.find(username))
    decision = await _decide_async(username, found, password, keys)
    if decision.rehash is not None and found is not None:
        async with lookups.connect() as conn:
            await conn.execute(_REHASH, (decision.rehash, username, found[2]))
    return decision.identity


async def identity_async(conn: psycopg.AsyncConnection[Any], username: str) -> MqttIdentity | None:
    """Who an already authenticated *username* is (ACL requests carry no password), or None.

    The same accounts as :func:`authenticate_async` admit: a service account of a service
    role, an active device.
    """
    if not username:
        return None
    found = await _find(conn, username)
    if found is None:
        return None
    role, kind, _ = found
    return MqttIdentity(username, role, kind)
