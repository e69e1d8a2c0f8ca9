"""Signed checkpoints catch what the public hash rule cannot: a database owner's rewrite.

The attacker edits a row, strips the key markers and recomputes every hash and the head
with the public ``hub.audit.row_hash``; the chain alone then says "intact", the
checkpoint file does not (tests/security/test_audit_rewrite.py has the variants).
Each test runs in its own throw-away database.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from hub import audit
from hub import audit_checkpoints as checkpoints
from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.errors import ConfigError
from hub.scratch import scratch_database
from hub.settings import load_settings
from tests.audit_attack import rewrite_publicly
from tests.helpers import Conn

pytestmark = pytest.mark.integration

SECRET = secrets.token_urlsafe(32)


@pytest.fixture
def fresh(pg_admin_url: str, catalogue: Catalogue) -> Iterator[tuple[str, Conn]]:
    with scratch_database(pg_admin_url, f"cityhub_auditcp_{os.getpid()}", catalogue) as url, \
            psycopg.connect(url, autocommit=True) as conn:
        _append(conn, 0, 5)
        yield url, conn


def _append(conn: Conn, start: int, stop: int) -> None:
    for i in range(start, stop):
        audit.append(conn, actor="op-1", action="alert.ack", target=f"alert:{i}",
                     details={"note": f"checked {i}"})


def cli(url: str, *args: str, file: Path, secret: str = SECRET) -> tuple[int, str]:
    _plugins()
    env = {"CITYHUB_DATABASE_URL": url, "CITYHUB_SECRET_KEY": secret,
           "CITYHUB_AUDIT_CHECKPOINT_FILE": str(file)}
    result = CliRunner().invoke(app, ["audit", *args], env=env)
    # Rich wraps long lines at the terminal width; a reader sees the words, not the breaks.
    output = result.output if "--json" in args else " ".join(result.output.split())
    return result.exit_code, output



def test_a_recomputed_rewrite_passes_the_chain_but_fails_the_checkpoint(
        fresh: tuple[str, Conn], tmp_path: Path) -> None:
    url, conn = fresh
    file = tmp_path / "checkpoints.jsonl"
    code, output = cli(url, "checkpoint", file=file)
    assert code == 0, output
    assert "checkpoint: row 5" in output
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    line = json.loads(file.read_text(encoding="utf-8"))
    assert set(line) == {"db", "seq", "hash", "at", "mac"}
    assert line["seq"] == 5

    rewrite_publicly(conn, 3, strip=True)

    code, output = cli(url, "verify", file=tmp_path / "none.jsonl")
    assert code == 0  # what the chain alone can see: nothing
    assert "OK: 5 rows, chain intact" in output
    assert "only the chain's internal consistency was checked" in output

    code, output = cli(url, "verify", file=file)
    assert code == 1
    assert "audit checkpoints FAILED" in output
    assert "checkpoint seq 5" in output
    assert "rows 1..5 were rewritten" in output


def test_a_rewrite_of_the_newest_rows_is_a_downgrade_and_its_checkpoint_fails(
        fresh: tuple[str, Conn], tmp_path: Path) -> None:
    url, conn = fresh
    file = tmp_path / "checkpoints.jsonl"
    assert cli(url, "checkpoint", file=file)[0] == 0
    _append(conn, 5, 8)
    assert cli(url, "checkpoint", file=file)[0] == 0
    code, output = cli(url, "verify", file=file)
    assert code == 0
    assert "2 signed checkpoints match (the newest at row 8)" in output

    rewrite_publicly(conn, 7, start=6, strip=True)
    code, output = cli(url, "verify", "--json", file=file)
    assert code == 1
    report = json.loads(output)
    # Keyed rows 1..5, then public ones: the chain names the first rewritten row...
    assert (report["problem"], report["row_id"]) == ("downgraded", 6)
    # ...and the checkpoint past the break no longer matches the rewritten row it signed.
    assert (report["checkpoints"]["problem"], report["checkpoints"]["seq"]) == ("rewritten", 8)
    assert "row 8's hash is not the one signed" in report["checkpoints"]["message"]


def test_a_forged_checkpoint_line_fails(fresh: tuple[str, Conn], tmp_path: Path) -> None:
    url, conn = fresh
    file = tmp_path / "checkpoints.jsonl"
    assert cli(url, "checkpoint", file=file)[0] == 0
    rewrite_publicly(conn, 2, strip=True)
    # The attacker also replaces the file with a checkpoint of the new head under a key of their own.
    head = conn.execute("SELECT seq, hash FROM hub.audit_head").fetchone()
    assert head is not None
    forged_key = checkpoints.checkpoint_key(load_settings({"CITYHUB_SECRET_KEY": secrets.token_urlsafe(32)}))
    original = file.read_text(encoding="utf-8")
    file.write_text("", encoding="utf-8")
    checkpoints.write(file, forged_key, checkpoints.database_id(conn), int(str(head[0])), str(head[1]))
    code, output = cli(url, "verify", file=file)
    assert code == 1
    assert "checkpoint seq 5 has a bad signature" in output

    # Editing the hash of the real line breaks its signature just the same.
    line = json.loads(original)
    file.write_text(json.dumps({**line, "hash": str(head[1])}) + "\n", encoding="utf-8")
    code, output = cli(url, "verify", file=file)
    assert code == 1
    assert "checkpoint seq 5 has a bad signature" in output


def test_deleting_the_newest_rows_after_a_checkpoint_fails(fresh: tuple[str, Conn], tmp_path: Path) -> None:
    url, conn = fresh
    file = tmp_path / "checkpoints.jsonl"
    assert cli(url, "checkpoint", file=file)[0] == 0
    # Delete rows 4 and 5 and move the head back consistently: the chain is intact again.
    row = conn.execute("SELECT hash FROM hub.audit_log WHERE id = 3").fetchone()
    assert row is not None
    conn.execute("DELETE FROM hub.audit_log WHERE id > 3")
    conn.execute("UPDATE hub.audit_head SET seq = 3, hash = %s", (row[0],))
    assert audit.verify(conn).ok
    code, output = cli(url, "verify", file=file)
    assert code == 1
    assert "checkpoint seq 5" in output
    assert "rows 4..5 were deleted" in output


def test_a_broken_chain_is_never_signed(fresh: tuple[str, Conn], tmp_path: Path) -> None:
    _url, conn = fresh
    file = tmp_path / "checkpoints.jsonl"
    conn.execute("UPDATE hub.audit_log SET actor = 'someone-else' WHERE id = 2")
    with pytest.raises(checkpoints.CheckpointError, match="row 2 was altered"):
        checkpoints.checkpoint(conn, file, checkpoints.checkpoint_key(
            load_settings({"CITYHUB_SECRET_KEY": SECRET})))
    assert not file.exists()


@pytest.mark.parametrize("secret", ["", "changeme", "test-secret-key-0123456789abcdef"])
def test_no_signing_without_a_real_secret_outside_demo_mode(secret: str) -> None:
    with pytest.raises(ConfigError, match="CITYHUB_SECRET_KEY"):
        checkpoints.checkpoint_key(load_settings({"CITYHUB_SECRET_KEY": secret}))


def test_the_key_is_not_the_secret_and_depends_on_it() -> None:
    one = checkpoints.checkpoint_key(load_settings({"CITYHUB_SECRET_KEY": SECRET}))
    other = checkpoints.checkpoint_key(load_settings({"CITYHUB_SECRET_KEY": secrets.token_urlsafe(32)}))
    assert one != other
    assert SECRET.encode() not in one


def test_one_file_serves_two_databases_and_a_relabelled_line_cannot_hide(
        fresh: tuple[str, Conn], pg_admin_url: str, catalogue: Catalogue, tmp_path: Path) -> None:
    url, conn = fresh
    file = tmp_path / "checkpoints.jsonl"
    assert cli(url, "checkpoint", file=file)[0] == 0
    # A second database (a demo beside production) signs into the same file.
    with scratch_database(pg_admin_url, f"cityhub_auditcp2_{os.getpid()}", catalogue) as other, \
            psycopg.connect(other, autocommit=True) as other_conn:
        _append(other_conn, 0, 2)
        assert cli(other, "checkpoint", file=file)[0] == 0
        code, output = cli(other, "verify", file=file)
        assert code == 0, output
    code, output = cli(url, "verify", file=file)
    assert code == 0, output
    assert "1 signed checkpoints match" in output
    # Moving this database's line to another database's name breaks its signature.
    mine, theirs = file.read_text(encoding="utf-8").splitlines()
    relabelled = {**json.loads(mine), "db": json.loads(theirs)["db"]}
    file.write_text(json.dumps(relabelled) + "\n" + theirs + "\n", encoding="utf-8")
    rewrite_publicly(conn, 2, strip=True)
    code, output = cli(url, "verify", file=file)
    assert code == 1
    assert "bad signature" in output
