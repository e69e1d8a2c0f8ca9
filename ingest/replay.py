"""Re-processing dead letters, e.g. after the missing device has been registered.

A dead letter that passes now is stored and marked replayed in the same
transaction; one that fails again stays pending with the new reason, as does one
whose values now conflict with stored ones (ingest/conflicts.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from hub.db import connection
from hub.deadletters import list_dead_letters
from ingest.conflicts import Conflicts, rejections
from ingest.messages import Incoming
from ingest.pipeline import BatchPlan, Decoded, Planner, decode
from ingest.store import Store
from ingest.validate import TimeWindow

CHUNK = 500


@dataclass(frozen=True, slots=True)
class ReplayReport:
    stored: int
    still_rejected: int


def pending_count(url: str) -> int:
    with connection(url) as conn:
        row = conn.execute("SELECT count(*) FROM hub.dead_letters WHERE replayed_at IS NULL").fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def replay(
    url: str, planner: Planner, *, device_id: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    store = Store(url)
    devices = store.devices()
    window = TimeWindow.around(datetime.now(UTC), store.retention())
    stored = rejected = 0
    after = 0
    try:
        while True:
            with connection(url) as conn:
                letters = list_dead_letters(conn, device_id=device_id, limit=CHUNK, after_id=after)
            if not letters:
                break
            after = letters[-1].id
            merged = BatchPlan()
            ok: list[int] = []
            passed: list[Decoded] = []
            failed: list[tuple[int, str]] = []
            for letter in letters:
                message = Incoming(letter.topic, letter.payload, 0, 0, letter.received_at.timestamp())
                decoded = decode(message)
                plan = planner.plan([decoded], devices, window)
                if plan.dead_letters:
                    dead = plan.dead_letters[0]
                    failed.append((letter.id, f"{dead.code}: {dead.reason}"))
                    continue
                ok.append(letter.id)
                passed.append(decoded)
                merged.readings.extend(plan.readings)
                merged.events.extend(plan.events)
                merged.online.update(plan.online)
                merged.subjects.update(plan.subjects)

            def mark(
                conn: psycopg.Connection[tuple[object, ...]],
                conflicts: Conflicts,
                ok: list[int] = ok,
                passed: list[Decoded] = passed,
                failed: list[tuple[int, str]] = failed,
            ) -> None:
                if conflicts:  # kept pending, as a fresh rejection would be
                    clashed = dict(rejections(planner, passed, devices, window, conflicts))
                    failed.extend((ok[i], f"{r.code}: {r.reason}") for i, r in clashed.items())
                    ok[:] = [letter for i, letter in enumerate(ok) if i not in clashed]
                conn.execute(
                    "UPDATE hub.dead_letters SET replayed_at = now(), replay_result = 'stored' "
                    "WHERE id = ANY(%s)", (ok,),
                )
                if failed:
                    conn.execute(
                        "UPDATE hub.dead_letters d SET replay_result = 'still rejected: ' || f.r "
                        "FROM unnest(%s::bigint[], %s::text[]) AS f(id, r) WHERE d.id = f.id",
                        ([i for i, _ in failed], [r for _, r in failed]),
                    )

            store.write(merged, also=mark)
            stored += len(ok)
            rejected += len(failed)
            if progress is not None:
                progress(len(letters))
    finally:
        store.close()
    return ReplayReport(stored, rejected)

