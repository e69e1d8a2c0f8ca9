"""The audit log against someone with write access to the database.

The attacker edits a row and recomputes every row's hash and the head with the public
rule (``hub.audit.row_hash``, SHA-256), which used to make `cityhub audit verify` answer
"chain intact". The chain is now keyed with a key outside the database and its head is
checkpointed, signed, outside it too: each variant of the rewrite must be reported.
Each test runs in its own throw-away database with its own key and checkpoint files.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from hub import audit, audit_keys
from hub.audit_keys import AuditKeys
from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.scratch import scratch_database
from tests.audit_attack import rewrite_publicly
from tests.helpers import Conn

pytestmark = pytest.mark.integration

SECRET = secrets.token_urlsafe(32)


@dataclass(frozen=True)
class World:
    url: str
    conn: Conn
    keys: AuditKeys
    files: Path

    def cli(self, *args: str, key_file: Path | None = None) -> tuple[int, str]:
        _plugins()
        env = {"CITYHUB_DATABASE_URL": self.url, "CITYHUB_SECRET_KEY": SECRET,
               "CITYHUB_AUDIT_KEY_FILE": str(key_file or self.keys.path),
               "CITYHUB_AUDIT_CHECKPOINT_FILE": str(self.files / "checkpoints.jsonl")}
        result = CliRunner().invoke(app, ["audit", *args], env=env)
        return result.exit_code, " ".join(result.output.split())

    def append(self, start: int, stop: int) -> None:
        for i in range(start, stop):
            audit.append(self.conn, actor="op-1", action="alert.ack", target=f"alert:{i}",
                         details={"note": f"checked {i}"}, keys=self.keys)


@pytest.fixture(scope="module")
def scratch(pg_admin_url: str, catalogue: Catalogue) -> Iterator[tuple[str, Conn]]:
    with scratch_database(pg_admin_url, f"cityhub_sec_audit_{os.getpid()}", catalogue) as url, \
            psycopg.connect(url, autocommit=True) as conn:
        yield url, conn


def empty_log(conn: Conn) -> None:
    conn.execute("TRUNCATE hub.audit_log")
    conn.execute("UPDATE hub.audit_head SET seq = 0, hash = %s", (audit.GENESIS,))


@pytest.fixture
def world(scratch: tuple[str, Conn], tmp_path: Path) -> World:
    """Five keyed rows in an otherwise empty log, a key file and a checkpoint file of its own."""
    url, conn = scratch
    empty_log(conn)
    made = World(url, conn, audit_keys.ensure(tmp_path / "audit-keys.json"), tmp_path)
    made.append(0, 5)
    return made



def test_a_rewrite_recomputed_with_the_public_rule_is_reported_broken(world: World) -> None:
    assert world.cli("checkpoint")[0] == 0
    assert world.cli("verify")[0] == 0
    rewrite_publicly(world.conn, 3)
    code, output = world.cli("verify")
    assert code == 1
    assert "chain intact" not in output
    assert "audit log FAILED verification: row 1 was altered" in output
    assert "audit checkpoints FAILED: checkpoint seq 5" in output
    assert "does not match the log" in output


def test_a_rewrite_that_also_strips_the_key_markers_is_reported_broken(world: World) -> None:
    assert world.cli("checkpoint")[0] == 0
    rewrite_publicly(world.conn, 3, strip=True)  # now it looks like a chain never keyed
    code, output = world.cli("verify")
    assert code == 1
    assert "chain intact" not in output
    assert "audit log FAILED verification: its 5 rows are consistent with each other but not with " \
           "the signed checkpoints (rewritten)" in output
    assert "checkpoint seq 5" in output
    assert "rows 1..5 were rewritten" in output


def test_stripping_the_key_markers_of_the_newest_rows_is_caught_without_a_checkpoint(world: World) -> None:
    # Rows 1..3 stay as they were; rows 4..5 are edited and recomputed publicly.
    rewrite_publicly(world.conn, 4, start=4, strip=True)
    code, output = world.cli("verify")
    assert code == 1
    assert "audit log FAILED verification: row 4 uses the public (unkeyed) rule after keyed rows" \
        in output


def test_the_key_is_needed_and_a_wrong_key_fails(world: World, tmp_path: Path) -> None:
    code, output = world.cli("verify", key_file=tmp_path / "missing.json")
    assert code == 1
    assert "row 1 is keyed under audit key version 1" in output
    assert "CITYHUB_AUDIT_KEY_FILE" in output
    other = audit_keys.ensure(tmp_path / "other-keys.json")
    code, output = world.cli("verify", key_file=other.path)
    assert code == 1
    assert "row 1 was altered" in output


def test_the_key_lives_only_in_its_file(world: World) -> None:
    assert stat.S_IMODE(world.keys.path.stat().st_mode) == 0o600
    key_hex = world.keys.keys[world.keys.current].hex()
    dump = world.conn.execute("SELECT string_agg(t::text, '') FROM hub.audit_log t").fetchone()
    head = world.conn.execute("SELECT string_agg(h::text, '') FROM hub.audit_head h").fetchone()
    assert dump is not None
    assert head is not None
    assert key_hex not in str(dump[0]) + str(head[0])
    versions = world.conn.execute("SELECT DISTINCT key_version FROM hub.audit_log").fetchall()
    assert versions == [(1,)]


def _append_as_before_the_key(conn: Conn, count: int) -> None:
    """Rows as the hub wrote them before migration 0018: the public rule, no key version."""
    for i in range(count):
        with conn.transaction():
            head = conn.execute("SELECT seq, hash, clock_timestamp() FROM hub.audit_head "
                                "FOR UPDATE").fetchone()
            assert head is not None
            seq, prev, ts = int(str(head[0])) + 1, str(head[1]), head[2]
            details = '{"note": "legacy"}'
            digest = audit.row_hash(prev, seq, ts, "op-0", "alert.ack", f"alert:{i}", details)  # type: ignore[arg-type]
            conn.execute("INSERT INTO hub.audit_log (id, ts, actor, action, target, details, "
                         "prev_hash, hash) VALUES (%s, %s, 'op-0', 'alert.ack', %s, %s::jsonb, %s, %s)",
                         (seq, ts, f"alert:{i}", details, prev, digest))
            conn.execute("UPDATE hub.audit_head SET seq = %s, hash = %s", (seq, digest))


def test_a_chain_from_before_the_key_keeps_verifying_and_is_then_checkpointed(
        scratch: tuple[str, Conn], tmp_path: Path) -> None:
    url, conn = scratch
    empty_log(conn)
    _append_as_before_the_key(conn, 3)
    world = World(url, conn, audit_keys.ensure(tmp_path / "audit-keys.json"), tmp_path)
    world.append(3, 5)
    code, output = world.cli("verify")
    assert code == 0, output
    assert "OK: 5 rows, chain intact" in output
    assert "rows 1..3 were written before the chain was keyed" in output
    assert world.cli("checkpoint")[0] == 0
    code, output = world.cli("verify")
    assert code == 0, output
    assert "before the chain was keyed" not in output  # the checkpoint covers them now
    # Rewriting the unkeyed rows publicly cannot be carried past the keyed row 4.
    rewrite_publicly(conn, 2)
    code, output = world.cli("verify")
    assert code == 1
    assert "row 4 was altered" in output


def test_a_rotated_key_keeps_older_rows_verifying(world: World) -> None:
    rotated = audit_keys.rotate(world.keys.path)
    assert rotated.current == 2
    World(world.url, world.conn, rotated, world.files).append(5, 7)
    code, output = world.cli("verify")
    assert code == 0, output
    assert "OK: 7 rows, chain intact" in output
    versions = world.conn.execute("SELECT key_version, count(*) FROM hub.audit_log "
                                  "GROUP BY 1 ORDER BY 1").fetchall()
    assert versions == [(1, 5), (2, 2)]
    # Without version 1 the older rows cannot be checked, and verify says which version it lacks.
    world.keys.path.write_text(json.dumps({"current": 2, "keys": {"2": rotated.keys[2].hex()}}))
    code, output = world.cli("verify")
    assert code == 1
    assert "row 1 is keyed under audit key version 1" in output
