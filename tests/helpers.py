"""Small helpers shared by the integration tests."""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime

import psycopg

from hub.catalogue import Catalogue
from hub.registry import add_device

Conn = psycopg.Connection[tuple[object, ...]]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a process a test starts: none of the CITYHUB_ settings of the
    machine or of the test run, except the run's own audit key file and state directory,
    plus ``extra``."""
    # tests/conftest.py gives each run its own audit key file and state directory, so no
    # run writes into the machine's state directory (or finds a `cityhub up` running there);
    # the services a test starts must keep them.
    kept = ("CITYHUB_AUDIT_KEY_FILE", "CITYHUB_STATE_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_") or k in kept}
    return {**env, **extra}


def new_device(conn: Conn, catalogue: Catalogue, kind: str, prefix: str = "t", **kw: object) -> str:
    device_id = f"{prefix}-{kind.replace('_', '')}-{secrets.token_hex(4)}"
    add_device(conn, catalogue, device_id, kind, **kw)  # type: ignore[arg-type]
    return device_id


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def now_ms() -> int:
    return int(time.time() * 1000)


def rows(conn: Conn, device_id: str) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT metric, value FROM hub.telemetry WHERE device_id = %s ORDER BY ts, metric",
        (device_id,),
    ).fetchall()


def count(conn: Conn, query: str, *params: object) -> int:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    value = row[0]
    assert isinstance(value, int)
    return value


def dead_letters(conn: Conn, device_id: str) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT reason_code, reason, payload FROM hub.dead_letters WHERE device_id = %s ORDER BY id",
        (device_id,),
    ).fetchall()
