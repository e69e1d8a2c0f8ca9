"""The four counts of a scenario, from the publisher's PUBACK log and the database.

A reading is a key (device id, its number for that device); its timestamp is the
scenario's base time plus that number in milliseconds, so the stored rows name the
readings they hold.

- lost: acknowledged by the broker, never stored;
- duplicated: stored more than once (the unique key should make it impossible);
- recovered: published before the fault was repaired, not stored when it began, and
  stored in the end: the backlog the fault held back;
- unexpected: stored, but the publisher never had its PUBACK.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from psycopg import sql

from hub.db import connect

Key = tuple[str, int]
METRIC = "pm10"


@dataclass(frozen=True, slots=True)
class Counts:
    published: int
    acknowledged: int
    stored: int  # distinct readings in the database
    lost: int
    duplicated: int
    recovered: int
    unexpected: int
    dead_letters: int  # the scenario's devices' dead letters


def tally(published: Collection[Key], acknowledged: Collection[Key], stored: Counter[Key], *,
          stored_when_fault_began: Collection[Key] = (), published_before_repair: Collection[Key] = (),
          dead_letters: int = 0) -> Counts:
    acked = set(acknowledged)
    at_fault = set(stored_when_fault_began)
    return Counts(
        published=len(published),
        acknowledged=len(acked),
        stored=len(stored),
        lost=sum(1 for key in acked if key not in stored),
        duplicated=sum(1 for n in stored.values() if n > 1),
        recovered=sum(1 for key in published_before_repair
                      if key in stored and key not in at_fault),
        unexpected=sum(1 for key in stored if key not in acked),
        dead_letters=dead_letters,
    )


def stored_readings(url: str, device_ids: Sequence[str], base_ms: int) -> Counter[Key]:
    """How often each reading of *device_ids* is stored."""
    query = sql.SQL(
        "SELECT device_id, (extract(epoch FROM ts) * 1000)::bigint - %s AS n, count(*) "
        "FROM hub.telemetry WHERE device_id = ANY(%s) AND metric = %s GROUP BY 1, 2")
    with connect(url, autocommit=True, application_name="cityhub-chaos") as conn:
        rows = conn.execute(query, (base_ms, list(device_ids), METRIC)).fetchall()
    return Counter({(cast(str, device), cast(int, n)): cast(int, c) for device, n, c in rows})


def dead_letter_count(url: str, device_ids: Iterable[str]) -> int:
    with connect(url, autocommit=True, application_name="cityhub-chaos") as conn:
        row = conn.execute("SELECT count(*) FROM hub.dead_letters WHERE device_id = ANY(%s)",
                           (list(device_ids),)).fetchone()
    return 0 if row is None else cast(int, row[0])
