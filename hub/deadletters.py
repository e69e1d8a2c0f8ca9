"""Reading the dead letters: messages ingest rejected, with the reason."""

from __future__ import annotations

import psycopg

from hub.domain import DeadLetter

_COLUMNS = (
    "SELECT id, received_at, topic, device_id, payload, reason_code, reason, replayed_at, "
    "replay_result FROM hub.dead_letters "
)


def list_dead_letters(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    pending_only: bool = True,
    device_id: str | None = None,
    limit: int = 100,
    after_id: int = 0,
) -> list[DeadLetter]:
    rows = conn.execute(
        _COLUMNS + "WHERE id > %(after)s AND (NOT %(pending)s OR replayed_at IS NULL) "
        "AND (%(device)s::text IS NULL OR device_id = %(device)s) ORDER BY id LIMIT %(limit)s",
        {"after": after_id, "pending": pending_only, "device": device_id, "limit": limit},
    ).fetchall()
    return [DeadLetter(*row) for row in rows]  # type: ignore[arg-type]
