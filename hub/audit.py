"""The hash-chained audit log: append inside the caller's transaction, verify the chain.

Each row's hash is HMAC-SHA-256, under a key kept outside the database
(:mod:`hub.audit_keys`), over the previous row's hash and a canonical encoding of the
row and the key version it names (:func:`keyed_row_hash`). Rows written before
migration 0018 name no version and were hashed with the public rule (:func:`row_hash`:
SHA-256); they still verify, but no keyed row may be followed by an unkeyed one, so
stripping the markers to recompute the rest publicly is caught. The hash is computed
here in Python, never by the database, so the key never reaches it.

Appenders lock the single ``hub.audit_head`` row, so ids are contiguous and the chain
never forks; the head keeps the last id and hash, so deleting the newest rows is
detected as well as altering or deleting any other.

``append`` takes a psycopg ``Connection`` (returns the new id) or an
``AsyncConnection`` (returns an awaitable of it); either way the row is written in
the caller's transaction and disappears with it on rollback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, overload

import psycopg
from psycopg import sql

from hub import audit_keys
from hub.audit_keys import AuditKeys

GENESIS = "0" * 64

Conn = psycopg.Connection[tuple[Any, ...]]
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]

_LOCK_HEAD = sql.SQL("SELECT seq, hash, clock_timestamp() FROM hub.audit_head FOR UPDATE")
# The database's own text form of the jsonb is what gets hashed, so verification
# reads back exactly the bytes that were hashed whatever the JSON looked like.
_CANONICAL = sql.SQL("SELECT %s::jsonb::text")
_INSERT = sql.SQL(
    "INSERT INTO hub.audit_log (id, ts, actor, action, target, details, prev_hash, hash, key_version) "
    "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
)
_MOVE_HEAD = sql.SQL("UPDATE hub.audit_head SET seq = %s, hash = %s")
_COLUMNS = sql.SQL("id, ts, actor, action, target, details::text, prev_hash, hash, key_version")
# Its own label, so a row's MAC can never equal another use of the same key.
_LABEL = b"cityhub audit chain v2\n"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts: datetime
    actor: str
    action: str
    target: str
    details: str  # canonical JSON text
    prev_hash: str
    hash: str
    key_version: int | None = None  # None: written before 0018, public rule

    def details_dict(self) -> dict[str, Any]:
        value = json.loads(self.details)
        return value if isinstance(value, dict) else {"value": value}


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    count: int
    row_id: int | None = None
    problem: Literal["altered", "missing", "head", "downgraded", "key"] | None = None
    message: str = ""
    public_until: int = 0  # the last row hashed with the public rule (0: none)


def canonical(entry_id: int, ts: datetime, actor: str, action: str, target: str, details: str) -> bytes:
    """The bytes a row is hashed over: a JSON array, timestamps in UTC ISO-8601."""
    stamp = ts.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps([entry_id, stamp, actor, action, target, details],
                      ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def row_hash(prev_hash: str, entry_id: int, ts: datetime, actor: str, action: str, target: str,
             details: str) -> str:
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(canonical(entry_id, ts, actor, action, target, details))
    return digest.hexdigest()


def keyed_row_hash(key: bytes, version: int, prev_hash: str, entry_id: int, ts: datetime,
                   actor: str, action: str, target: str, details: str) -> str:
    mac = hmac.new(key, _LABEL, hashlib.sha256)
    mac.update(f"{version}\n{prev_hash}\n".encode("ascii"))
    mac.update(canonical(entry_id, ts, actor, action, target, details))
    return mac.hexdigest()


def _details_json(details: Mapping[str, Any]) -> str:
    return json.dumps(dict(details), default=str, ensure_ascii=False, sort_keys=True)


@overload
def append(conn: Conn, *, actor: str, action: str, target: str,
           details: Mapping[str, Any] | None = None, keys: AuditKeys | None = None) -> int: ...
@overload
def append(conn: AsyncConn, *, actor: str, action: str, target: str,
           details: Mapping[str, Any] | None = None,
           keys: AuditKeys | None = None) -> Awaitable[int]: ...
def append(conn: Conn | AsyncConn, *, actor: str, action: str, target: str,
           details: Mapping[str, Any] | None = None,
           keys: AuditKeys | None = None) -> int | Awaitable[int]:
    """Append one row in the caller's transaction and return its id; *keys* default to the
    process's key file (:func:`hub.audit_keys.for_append`)."""
    text = _details_json(details or {})
    use = keys or audit_keys.for_append()
    if isinstance(conn, psycopg.AsyncConnection):
        return _append_async(conn, use, actor, action, target, text)
    return _append_sync(conn, use, actor, action, target, text)


def _hash_new(keys: AuditKeys, prev: str, seq: int, ts: datetime, actor: str, action: str,
              target: str, details: str) -> str:
    return keyed_row_hash(keys.keys[keys.current], keys.current, prev, seq, ts, actor, action,
                          target, details)


def _append_sync(conn: Conn, keys: AuditKeys, actor: str, action: str, target: str, text: str) -> int:
    with conn.transaction():
        head = conn.execute(_LOCK_HEAD).fetchone()
        assert head is not None, "hub.audit_head is empty; run `cityhub migrate`"
        row = conn.execute(_CANONICAL, (text,)).fetchone()
        assert row is not None
        seq, prev, ts = int(head[0]) + 1, str(head[1]), head[2]
        digest = _hash_new(keys, prev, seq, ts, actor, action, target, str(row[0]))
        conn.execute(_INSERT, (seq, ts, actor, action, target, row[0], prev, digest, keys.current))
        conn.execute(_MOVE_HEAD, (seq, digest))
    return seq


async def _append_async(conn: AsyncConn, keys: AuditKeys, actor: str, action: str, target: str,
                        text: str) -> int:
    async with conn.transaction():
        head = await (await conn.execute(_LOCK_HEAD)).fetchone()
        assert head is not None, "hub.audit_head is empty; run `cityhub migrate`"
        row = await (await conn.execute(_CANONICAL, (text,))).fetchone()
        assert row is not None
        seq, prev, ts = int(head[0]) + 1, str(head[1]), head[2]
        digest = _hash_new(keys, prev, seq, ts, actor, action, target, str(row[0]))
        await conn.execute(_INSERT, (seq, ts, actor, action, target, row[0], prev, digest,
                                     keys.current))
        await conn.execute(_MOVE_HEAD, (seq, digest))
    return seq


def _expected_hash(e: AuditEntry, keys: AuditKeys | None) -> str | None:
    """The hash row *e* must have; None when its key version is not available."""
    if e.key_version is None:
        return row_hash(e.prev_hash, e.id, e.ts, e.actor, e.action, e.target, e.details)
    key = keys.key(e.key_version) if keys is not None else None
    if key is None:
        return None
    return keyed_row_hash(key, e.key_version, e.prev_hash, e.id, e.ts, e.actor, e.action,
                          e.target, e.details)


def check_chain(entries: Iterable[AuditEntry], head_seq: int, head_hash: str,
                keys: AuditKeys | None = None) -> Verification:
    """Pure check of rows in id order against the head; the first problem wins."""
    prev, expected, count, public_until, keyed = GENESIS, 1, 0, 0, False
    for e in entries:
        if e.id != expected:
            return Verification(False, count, expected, "missing",
                                f"row {expected} is missing (next row present is {e.id})",
                                public_until)
        if e.key_version is None and keyed:
            return Verification(False, count, e.id, "downgraded",
                                f"row {e.id} uses the public (unkeyed) rule after keyed rows: its "
                                "key marker was removed to recompute the chain (rewritten)",
                                public_until)
        computed = _expected_hash(e, keys)
        if computed is None:
            where = keys.path if keys is not None else "no audit key file"
            return Verification(False, count, e.id, "key",
                                f"row {e.id} is keyed under audit key version {e.key_version}, "
                                f"which {where} does not hold: give CITYHUB_AUDIT_KEY_FILE the "
                                "file the services use", public_until)
        if computed != e.hash or e.prev_hash != prev:
            return Verification(False, count, e.id, "altered",
                                f"row {e.id} was altered (its hash does not match its contents "
                                "or the row before it)", public_until)
        keyed = keyed or e.key_version is not None
        if e.key_version is None:
            public_until = e.id
        prev, expected, count = e.hash, e.id + 1, count + 1
    if head_seq > count:
        return Verification(False, count, count + 1, "missing",
                            f"rows {count + 1}..{head_seq} are missing (the log ends at row {count} "
                            f"but the head records {head_seq})", public_until)
    if head_seq != count or head_hash != prev:
        return Verification(False, count, None, "head",
                            "the head record does not match the last row (head altered)",
                            public_until)
    return Verification(True, count, message=f"OK: {count} rows, chain intact",
                        public_until=public_until)


def iter_entries(conn: Conn, *, batch: int = 5000) -> Iterator[AuditEntry]:
    """Every row in id order, streamed with a server-side cursor."""
    with conn.cursor(name="cityhub_audit") as cur:
        cur.itersize = batch
        cur.execute(sql.SQL("SELECT {} FROM hub.audit_log ORDER BY id").format(_COLUMNS))
        for row in cur:
            yield AuditEntry(*row)


def verify(conn: Conn, keys: AuditKeys | None = None) -> Verification:
    """Check the whole chain in one repeatable-read snapshot of the log and its head;
    *keys* default to the process's key file, if it exists."""
    keys = keys or audit_keys.for_verify()
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        head = conn.execute("SELECT seq, hash FROM hub.audit_head").fetchone()
        if head is None:
            return Verification(False, 0, None, "head", "the head record is missing")
        return check_chain(iter_entries(conn), int(head[0]), str(head[1]), keys)


def recent(conn: Conn, *, limit: int = 50, actor: str | None = None,
           action: str | None = None) -> list[AuditEntry]:
    rows = conn.execute(
        sql.SQL("SELECT {} FROM hub.audit_log WHERE (%(actor)s::text IS NULL OR actor = %(actor)s) "
                "AND (%(action)s::text IS NULL OR action = %(action)s) "
                "ORDER BY id DESC LIMIT %(limit)s").format(_COLUMNS),
        {"actor": actor, "action": action, "limit": limit},
    ).fetchall()
    return [AuditEntry(*r) for r in rows]

