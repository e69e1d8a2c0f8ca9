"""Login throttling: per (username, client address) and per address, with growing waits.

Each login first *reserves* its attempt: in one short transaction it locks the rows of
its two keys (``hub.login_throttle``, always in the same order, so two logins never
deadlock), refuses if a key must still wait, and otherwise counts the attempt as a
failure. Only then is the (slow, argon2) password checked, outside the lock; a right
password takes the reservation back. So concurrent guesses queue at the lock and each
sees the ones before it: no more than the allowed number are ever checked.

A key with ``f`` remembered failures, ``f`` at or over its limit, waits
``min(max_delay, delay × 2^(f - limit))`` after its last failure. Failures are
remembered for ``login_window_seconds`` after the last one; a success from the same
address clears the (name, address) key. The address key (``''`` as the username,
over every name) has its own, higher limit and is not cleared by a success: it stops
one client from trying one password on many names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.settings import Settings
from ops_console.db import AsyncConn
from ops_console.errors import LoginThrottled

ADDRESS_KEY = ""  # the username column of the per-address row; a login's name is never empty

# Inserts the key's row or locks the existing one; ON CONFLICT … DO UPDATE takes the row
# lock even when a concurrent clean-up (forget_old) has just deleted it.
_LOCK = ("INSERT INTO hub.login_throttle AS t (username, client_ip) VALUES (%s, %s) "
         "ON CONFLICT (username, client_ip) DO UPDATE SET failures = t.failures "
         "RETURNING t.failures, t.last_failure, now(), t.last_failure < now() - %s")
_RESERVE = ("UPDATE hub.login_throttle SET failures = %s, last_failure = now() "
            "WHERE username = %s AND client_ip = %s")


@dataclass(frozen=True, slots=True)
class KeyState:
    failures: int
    wait_s: float  # seconds until another attempt may be checked; <= 0: now


def wait_after(failures: int, limit: int, settings: Settings) -> float:
    """Seconds a key with *failures* must wait after its last failure."""
    if failures < limit:
        return 0.0
    doublings = min(failures - limit, 62)  # 2^62 s is past any cap; keeps the float finite
    return float(min(settings.login_max_delay_seconds, settings.login_delay_seconds * 2 ** doublings))


def _keys(username: str, client_ip: str) -> list[tuple[str, str]]:
    # Sorted: every login locks the address row ('' sorts first) before its pair's row.
    return sorted({(ADDRESS_KEY, client_ip), (username, client_ip)})


async def _lock(conn: AsyncConn, settings: Settings, key: tuple[str, str]) -> KeyState:
    cur = await conn.execute(_LOCK, (*key, timedelta(seconds=settings.login_window_seconds)))
    row = await cur.fetchone()
    assert row is not None  # INSERT … RETURNING always returns the row
    failures, last, now, forgotten = row
    if last is None or forgotten:
        return KeyState(0, 0.0)
    limit = settings.login_address_max_failures if key[0] == ADDRESS_KEY else settings.login_max_failures
    assert isinstance(last, datetime)
    assert isinstance(now, datetime)
    wait = wait_after(int(failures), limit, settings) - (now - last).total_seconds()
    return KeyState(int(failures), wait)


async def reserve(conn: AsyncConn, settings: Settings, username: str, client_ip: str) -> None:
    """Count one attempt as a failure, or raise :class:`LoginThrottled` (call in a transaction)."""
    states = {key: await _lock(conn, settings, key) for key in _keys(username, client_ip)}
    wait = max(state.wait_s for state in states.values())
    if wait > 0:
        raise LoginThrottled(max(1, math.ceil(wait)))
    for key, state in states.items():
        await conn.execute(_RESERVE, (state.failures + 1, *key))


async def succeeded(conn: AsyncConn, username: str, client_ip: str) -> None:
    """A right password: forget the pair's failures and take back the address's reservation."""
    await conn.execute("UPDATE hub.login_throttle SET failures = greatest(failures - 1, 0) "
                       "WHERE username = %s AND client_ip = %s", (ADDRESS_KEY, client_ip))
    await conn.execute("DELETE FROM hub.login_throttle WHERE username = %s AND client_ip = %s",
                       (username, client_ip))


async def forget_old(conn: AsyncConn, settings: Settings, limit: int = 100) -> None:
    """Delete up to *limit* rows whose failures are past remembering (skipping locked ones)."""
    await conn.execute(
        "DELETE FROM hub.login_throttle WHERE ctid = ANY(ARRAY(SELECT ctid FROM hub.login_throttle "
        "WHERE last_failure < now() - %s LIMIT %s FOR UPDATE SKIP LOCKED))",
        (timedelta(seconds=settings.login_window_seconds), limit))
