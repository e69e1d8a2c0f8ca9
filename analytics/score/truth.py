"""The I/O edge of scoring: ground-truth files and the hub's alerts as match.py's rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from analytics.score.match import EXPECTED, EXPLAINED, AlertRow, Injection
from hub.errors import InvalidInput

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a ground-truth JSONL file (devices/sim/groundtruth.py)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"Cannot read the ground-truth file {path}: {exc.strerror}.") from None
    out: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise InvalidInput(f"{path}, line {n}: not a JSON object.") from None
        if not isinstance(record, dict) or not {"label", "device_ids", "start", "end"} <= record.keys():
            raise InvalidInput(f"{path}, line {n}: a ground-truth record has label, device_ids, start "
                               "and end.")
        out.append(record)
    return out


def injections(records: Iterable[Mapping[str, Any]], zones: Mapping[str, str | None],
               start: datetime | None = None, end: datetime | None = None) -> list[Injection]:
    """The records of scored labels (match.EXPECTED) and of those that explain alerts
    (match.EXPLAINED) beginning within [start, end]."""
    out: list[Injection] = []
    for r in records:
        if r["label"] not in EXPECTED and r["label"] not in EXPLAINED:
            continue
        begin, finish = datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])
        if (start is not None and begin < start) or (end is not None and begin > end):
            continue
        devices = frozenset(str(d) for d in r["device_ids"])
        out.append(Injection(str(r["label"]), devices,
                             frozenset(z for d in devices if (z := zones.get(d)) is not None),
                             begin, finish, str(r.get("scenario", ""))))
    return out


async def device_zones(conn: AsyncConn, device_ids: Sequence[str]) -> dict[str, str | None]:
    cur = await conn.execute("SELECT id, zone FROM hub.devices WHERE id = ANY(%s)", (list(device_ids),))
    return {str(d): None if z is None else str(z) for d, z in await cur.fetchall()}


def max_grace() -> timedelta:
    return max(e.grace for e in EXPECTED.values())


async def alerts(conn: AsyncConn, start: datetime, end: datetime) -> list[AlertRow]:
    """Alerts of the scored types first seen from *start* to *end* plus the longest grace."""
    types = sorted({t for e in EXPECTED.values() for t in e.alert_types})
    cur = await conn.execute(
        "SELECT id, rule_id, alert_type, device_id, zone, first_seen FROM hub.alerts "
        "WHERE first_seen >= %s AND first_seen <= %s AND alert_type = ANY(%s) ORDER BY id",
        (start, end + max_grace(), types))
    return [AlertRow(int(i), str(r), str(t), d, z, f) for i, r, t, d, z, f in await cur.fetchall()]
