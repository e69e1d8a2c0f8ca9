"""Signed checkpoints of the audit log's head, kept outside the database.

The chain in :mod:`hub.audit` is keyed, but rows written before migration 0018 use a
public rule, and a writer to the database can strip the key markers from every row and
recompute the whole chain publicly: it then looks like a chain that was never keyed. A
checkpoint of the head, signed outside the database, catches that. It is one JSON line
``{db, seq, hash, at, mac}`` appended to a file the database cannot reach, where ``mac`` is
HMAC-SHA-256 under a key derived from ``CITYHUB_SECRET_KEY`` (also not in the database)
and ``db`` names the database (the cluster's system identifier and the database's name),
so that one file can hold the checkpoints of several databases (a demo's and a
production's on one machine) and each is checked against its own.
:func:`verify` recomputes the chain and checks every checkpoint against it: a forged
line, a rewritten history and a truncated log each fail, naming the checkpoint's seq.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from hub import audit, audit_keys
from hub.audit_keys import AuditKeys
from hub.errors import ConfigError, HubError
from hub.secret_strength import secret_key_problem
from hub.settings import Settings

# A label of its own, so this key never equals one derived from the secret for anything else.
_LABEL = b"cityhub audit checkpoint v1"
DEFAULT_FILE = "audit-checkpoints.jsonl"

Problem = Literal["unreadable", "forged", "rewritten", "truncated"]


class CheckpointError(HubError):
    """The chain is broken, so its head must not be signed."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    db: str
    seq: int
    hash: str
    at: str
    mac: str


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    ok: bool
    checked: int
    seq: int | None = None
    problem: Problem | None = None
    message: str = ""
    newest: int = 0  # the newest checkpointed row that matched (0: none)


def checkpoint_file(settings: Settings) -> Path:
    return settings.audit_checkpoint_file or settings.state_dir / DEFAULT_FILE


def checkpoint_key(settings: Settings) -> bytes:
    """The MAC key; refuses an empty or guessable secret outside demo mode."""
    secret = settings.secret_key.get_secret_value()
    problem = secret_key_problem(secret)
    if problem is not None and not (settings.demo and secret):
        raise ConfigError(f"CITYHUB_SECRET_KEY {problem}; audit checkpoints are signed with a key "
                          "derived from it, so set the service's real secret (docs/security.md).")
    return hmac.new(secret.encode("utf-8"), _LABEL, hashlib.sha256).digest()


def database_id(conn: audit.Conn) -> str:
    """Which database a checkpoint belongs to: the cluster's system identifier (fixed when
    the cluster was made) and the database's name."""
    row = conn.execute("SELECT system_identifier::text || '/' || current_database() "
                       "FROM pg_control_system()").fetchone()
    assert row is not None
    return str(row[0])


def _mac(key: bytes, db: str, seq: int, digest: str, at: str) -> str:
    message = json.dumps([db, seq, digest, at], separators=(",", ":")).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def write(path: Path, key: bytes, db: str, seq: int, digest: str,
          at: datetime | None = None) -> Checkpoint:
    """Append one signed line; the file is created 0600 and only ever opened to append."""
    stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    point = Checkpoint(db, seq, digest, stamp, _mac(key, db, seq, digest, stamp))
    line = json.dumps({"db": point.db, "seq": point.seq, "hash": point.hash, "at": point.at,
                       "mac": point.mac}, separators=(",", ":")) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)  # a checkpoint the caller was told about survives a crash
    finally:
        os.close(fd)
    return point


def checkpoint(conn: audit.Conn, path: Path, key: bytes, keys: AuditKeys | None = None) -> Checkpoint:
    """Verify the chain (and earlier checkpoints), then sign its head; never sign a broken one."""
    chain, check = verify(conn, path, key, keys)
    if not chain.ok:
        raise CheckpointError(f"not signing a broken chain: {chain.message}")
    if check is not None and not check.ok:
        raise CheckpointError(f"not signing: {check.message}")
    head = _last_hash(conn, chain.count)
    return write(path, key, database_id(conn), chain.count, head)


def _last_hash(conn: audit.Conn, seq: int) -> str:
    if seq == 0:
        return audit.GENESIS
    row = conn.execute("SELECT hash FROM hub.audit_log WHERE id = %s", (seq,)).fetchone()
    assert row is not None  # verify just read it
    return str(row[0])


def read(path: Path) -> list[Checkpoint | int]:
    """The file's checkpoints in order; a line that does not parse is its line number."""
    points: list[Checkpoint | int] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                points.append(Checkpoint(str(raw["db"]), int(raw["seq"]), str(raw["hash"]),
                                         str(raw["at"]), str(raw["mac"])))
            except (ValueError, KeyError, TypeError):
                points.append(number)
    return points


def verify(conn: audit.Conn, path: Path, key: bytes | None, keys: AuditKeys | None = None
           ) -> tuple[audit.Verification, CheckpointCheck | None]:
    """The chain's own check (under *keys*, default the process's audit key file) and, when
    *path* exists, the check of every checkpoint in it."""
    keys = keys or audit_keys.for_verify()
    points = read(path) if path.exists() else None
    seen: dict[int, str] = {0: audit.GENESIS}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        db = database_id(conn)
        wanted = {p.seq for p in points or [] if isinstance(p, Checkpoint) and p.db == db}
        chain = _check_chain(conn, wanted, seen, keys)
        past = _stored_hashes(conn, {s for s in wanted if s > chain.count}) if not chain.ok else {}
    if points is None:
        return chain, None
    if key is None:
        raise ConfigError(f"{path} holds audit checkpoints, but CITYHUB_SECRET_KEY is needed "
                          "to check their signatures.")
    return chain, check_points(points, key, seen, chain, db, past)


def _stored_hashes(conn: audit.Conn, seqs: set[int]) -> dict[int, str]:
    """The hashes stored in rows *seqs*, past a break where the chain stopped reading."""
    if not seqs:
        return {}
    rows = conn.execute("SELECT id, hash FROM hub.audit_log WHERE id = ANY(%s)", (sorted(seqs),))
    return {int(r[0]): str(r[1]) for r in rows}


def _check_chain(conn: audit.Conn, wanted: set[int], seen: dict[int, str],
                 keys: AuditKeys | None) -> audit.Verification:
    """The chain's own check, noting in *seen* the recomputed hash of each *wanted* seq."""

    def tap(entries: Iterable[audit.AuditEntry]) -> Iterator[audit.AuditEntry]:
        for e in entries:
            if e.id in wanted:
                seen[e.id] = e.hash
            yield e

    head = conn.execute("SELECT seq, hash FROM hub.audit_head").fetchone()
    if head is None:
        return audit.Verification(False, 0, None, "head", "the head record is missing")
    return audit.check_chain(tap(audit.iter_entries(conn)), int(head[0]), str(head[1]), keys)


def check_points(points: list[Checkpoint | int], key: bytes, seen: dict[int, str],
                 chain: audit.Verification, db: str,
                 past: Mapping[int, str] | None = None) -> CheckpointCheck:
    """Each line in file order; the first bad one wins. *seen*: verified hashes by seq;
    *past*: the stored hashes of checkpointed rows past the chain's break, if it broke.
    Every line's signature is checked (an edited ``db`` must not hide a line); only the
    lines of database *db* are compared with its chain."""
    checked, good, skipped = 0, 0, 0
    for p in points:
        if isinstance(p, int):
            return CheckpointCheck(False, checked, None, "unreadable",
                                   f"checkpoint file line {p} is not a checkpoint (edited or damaged)")
        if not hmac.compare_digest(p.mac, _mac(key, p.db, p.seq, p.hash, p.at)):
            return CheckpointCheck(False, checked, p.seq, "forged",
                                   f"checkpoint seq {p.seq} has a bad signature (forged or edited, "
                                   "or signed under another CITYHUB_SECRET_KEY)")
        if p.db != db:
            continue
        if p.seq > chain.count:
            if not chain.ok:
                stored = (past or {}).get(p.seq)
                if stored is not None and stored != p.hash:
                    return CheckpointCheck(False, checked, p.seq, "rewritten",
                                           f"checkpoint seq {p.seq} (signed at {p.at}) does not "
                                           f"match the log: row {p.seq}'s hash is not the one "
                                           "signed (the rows were rewritten and their hashes "
                                           "recomputed)", good)
                skipped += 1
                continue  # past the break the chain already reported
            return CheckpointCheck(False, checked, p.seq, "truncated",
                                   f"the log ends at row {chain.count} but checkpoint seq {p.seq} "
                                   f"was signed at {p.at}: rows {chain.count + 1}..{p.seq} were "
                                   "deleted and the head moved back (truncated)")
        if seen.get(p.seq) != p.hash:
            return CheckpointCheck(False, checked, p.seq, "rewritten",
                                   f"checkpoint seq {p.seq} (signed at {p.at}) does not match the "
                                   f"log: rows {min(good, p.seq - 1) + 1}..{p.seq} were rewritten "
                                   "and their hashes recomputed", good)
        checked, good = checked + 1, max(good, p.seq)
    if not checked and skipped:
        return CheckpointCheck(True, 0, message=f"{skipped} checkpoints lie past the chain's break "
                                                "and were not compared")
    if not checked:
        return CheckpointCheck(True, 0, message="the file holds no checkpoint of this database: "
                                                "only the chain's own consistency was checked")
    return CheckpointCheck(True, checked, message=f"{checked} signed checkpoints match "
                                                  f"(the newest at row {good})", newest=good)
