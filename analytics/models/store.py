"""The store of trained models (``hub.analytics_models``, migration 0019).

A model has a name and versions 1, 2, …; each version keeps the range of history it was
trained on, its scores (validation figures) and parameters as JSON, and the fitted object
as joblib bytes. Saving assigns the next version and sends ``pg_notify('hub_models', name)``
in the same transaction; readers take the newest version of a name. The bytes are
unpickled, so only the analytics service and ``cityhub analytics train`` write the table
(the console's role may only read the listing columns).

Sync functions for the CLI; ``a…`` functions for the live service's async connection.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from analytics.models.errors import ModelError, ModelNotFound

Conn = psycopg.Connection[tuple[Any, ...]]
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
CHANNEL = "hub_models"
_INFO = sql.SQL("name, version, trained_from, trained_to, scores, params, created_at, created_by, "
                "octet_length(model)")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    version: int
    trained_from: datetime
    trained_to: datetime
    scores: Mapping[str, Any]
    params: Mapping[str, Any]
    created_at: datetime
    created_by: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class LoadedModel:
    info: ModelInfo
    model: Any


def _info(row: Sequence[Any]) -> ModelInfo:
    return ModelInfo(str(row[0]), int(row[1]), row[2], row[3], dict(row[4] or {}), dict(row[5] or {}),
                     row[6], str(row[7]), int(row[8]))


def dumps(model: object) -> bytes:
    buffer = io.BytesIO()
    import joblib  # loads scikit-learn's dependencies: only when a model is stored or read

    joblib.dump(model, buffer, compress=3)
    return buffer.getvalue()


def loads(data: bytes, name: str) -> Any:
    try:
        import joblib

        return joblib.load(io.BytesIO(data))
    except Exception as exc:  # an unpickling error can be of any type
        raise ModelError(f"The stored model {name!r} cannot be loaded ({type(exc).__name__}); "
                         "retrain it with `cityhub analytics train`.") from exc


def save_model(conn: Conn, name: str, model: object, *, trained_from: datetime, trained_to: datetime,
               scores: Mapping[str, Any], params: Mapping[str, Any] | None = None,
               created_by: str = "analytics") -> ModelInfo:
    """Store *model* as the next version of *name*; commits with the caller's transaction."""
    data = dumps(model)
    try:
        with conn.transaction():
            # Versions of one name are assigned one at a time.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('hub.analytics_models:' || %s))", (name,))
            cur = conn.execute(sql.SQL(
                "INSERT INTO hub.analytics_models (name, version, trained_from, trained_to, scores, params, "
                "model, created_by) SELECT %s, coalesce(max(version), 0) + 1, %s, %s, %s, %s, %s, %s "
                "FROM hub.analytics_models WHERE name = %s RETURNING {}").format(_INFO),
                (name, trained_from, trained_to, Jsonb(dict(scores)), Jsonb(dict(params or {})), data,
                 created_by, name))
            row = cur.fetchone()
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, name))
    except psycopg.errors.CheckViolation as exc:
        raise ModelError(f"Model {name!r} cannot be stored: {exc.diag.message_primary}") from exc
    assert row is not None
    return _info(row)


def list_models(conn: Conn, name: str | None = None) -> list[ModelInfo]:
    """Every stored version (of *name*), newest first."""
    cur = conn.execute(sql.SQL("SELECT {} FROM hub.analytics_models WHERE %s::text IS NULL OR name = %s "
                               "ORDER BY name, version DESC").format(_INFO), (name, name))
    return [_info(r) for r in cur.fetchall()]


def load_model(conn: Conn, name: str, version: int | None = None) -> LoadedModel:
    """Version *version* of *name*, or its newest; :class:`ModelNotFound` if there is none."""
    cur = conn.execute(sql.SQL(
        "SELECT {}, model FROM hub.analytics_models WHERE name = %s "
        "AND (%s::integer IS NULL OR version = %s) ORDER BY version DESC LIMIT 1").format(_INFO),
        (name, version, version))
    row = cur.fetchone()
    if row is None:
        which = f"version {version} of {name!r}" if version is not None else repr(name)
        raise ModelNotFound(f"No stored model {which}; train one with `cityhub analytics train`.")
    return LoadedModel(_info(row[:9]), loads(bytes(row[9]), name))


def latest_model(conn: Conn, name: str) -> LoadedModel | None:
    try:
        return load_model(conn, name)
    except ModelNotFound:
        return None


async def alatest_versions(conn: AsyncConn) -> dict[str, int]:
    """The newest version of every stored name: a cheap poll for "was anything retrained?"."""
    cur = await conn.execute("SELECT name, max(version) FROM hub.analytics_models GROUP BY name")
    return {str(r[0]): int(r[1]) for r in await cur.fetchall()}


async def alatest_model(conn: AsyncConn, name: str) -> LoadedModel | None:
    """The newest version of *name*, or None when it was never trained."""
    cur = await conn.execute(sql.SQL(
        "SELECT {}, model FROM hub.analytics_models WHERE name = %s "
        "ORDER BY version DESC LIMIT 1").format(_INFO), (name,))
    row = await cur.fetchone()
    if row is None:
        return None
    return LoadedModel(_info(row[:9]), loads(bytes(row[9]), name))
