"""The attack on the audit chain by someone with write access to the database, shared by
tests/hub/test_audit_checkpoints.py and tests/security/test_audit_rewrite.py."""

from __future__ import annotations

from hub import audit
from tests.helpers import Conn


def rewrite_publicly(conn: Conn, row_id: int, *, start: int = 1, strip: bool = False) -> None:
    """Edit *row_id*, then recompute the hash of every row from *start* on and the head with
    the public rule; with *strip*, also remove those rows' key markers (from row 1: the chain
    looks as if it was never keyed)."""
    conn.execute("UPDATE hub.audit_log SET details = '{\"note\": \"nothing to see\"}' WHERE id = %s",
                 (row_id,))
    with conn.transaction():
        entries = list(audit.iter_entries(conn))
    prev = audit.GENESIS
    for e in entries:
        if e.id < start:
            prev = e.hash
            continue
        digest = audit.row_hash(prev, e.id, e.ts, e.actor, e.action, e.target, e.details)
        conn.execute("UPDATE hub.audit_log SET prev_hash = %s, hash = %s, "
                     "key_version = CASE WHEN %s THEN NULL ELSE key_version END WHERE id = %s",
                     (prev, digest, strip, e.id))
        prev = digest
    conn.execute("UPDATE hub.audit_head SET hash = %s", (prev,))
