"""Backtest: run one rule over history and list the alerts it would have raised.

History is read into a pandas DataFrame (readings, or events for an ``event_map`` rule) from
the rule's lookback before ``--from`` up to ``--to``, sorted, and fed row by row to the same
:class:`analytics.engine.Engine` the live service feeds from the stream. Its signals are
folded the way the alert store folds them (one alert per device and rule while it holds,
counting repeats, severity only upwards, ended by a lift), so what is listed is what the
live service would have put in ``hub.alerts``. Alerts first seen before ``--from`` are left
out: that time only fills the windows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import psycopg

from analytics.engine import Engine, Lifted, Raised, Signal, VersionedRule
from analytics.rules import EventRow, ReadingRow
from hub.alerts import higher

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
READING_COLUMNS = ["ts", "device_id", "kind", "zone", "metric", "value"]
EVENT_COLUMNS = ["ts", "device_id", "kind", "zone", "type", "severity"]


@dataclass(frozen=True, slots=True)
class Episode:
    """One alert the rule would have raised."""

    rule_id: str
    device_id: str
    zone: str | None
    severity: str
    first_seen: datetime
    last_seen: datetime
    count: int
    value: float | None
    lifted_at: datetime | None = None


def episodes(signals: Iterable[Signal]) -> list[Episode]:
    """Signals folded into alerts, in the order they were first seen."""
    live: dict[tuple[str, str], Episode] = {}
    done: list[Episode] = []
    for s in signals:
        if isinstance(s, Raised):
            o = s.occurrence
            key = (o.device_id, o.rule_id)
            current = live.get(key)
            if current is None:
                live[key] = Episode(o.rule_id, o.device_id, o.zone, o.severity, o.ts, o.ts, 1, o.value)
            elif o.ts > current.last_seen:
                live[key] = replace(current, severity=higher(current.severity, o.severity),
                                    last_seen=o.ts, count=current.count + 1, value=o.value)
        elif isinstance(s, Lifted):
            ended = live.pop((s.device_id, s.rule_id), None)
            if ended is not None and s.ts > ended.last_seen:
                done.append(replace(ended, lifted_at=s.ts))
            elif ended is not None:
                live[(s.device_id, s.rule_id)] = ended
    return sorted([*done, *live.values()], key=lambda e: (e.first_seen, e.device_id, e.rule_id))


def run(rule: VersionedRule, frame: pd.DataFrame, intervals: Mapping[str, float], *,
        start: datetime, end: datetime, areas: Mapping[str, float] | None = None) -> list[Episode]:
    """*rule* over *frame* (readings, or events for an event rule), as alerts first seen in
    [start, end]; *areas* are the zones' areas (hub.zones) for a density rule."""
    engine = Engine([rule], intervals, areas)
    ordered = frame.sort_values(["ts", "device_id"], kind="stable")
    signals: list[Signal]
    if rule.spec.kind == "event_map":
        signals = engine.events(EventRow(_ts(t), str(d), str(k), _zone(z), str(ty), str(sv))
                                for t, d, k, z, ty, sv in _columns(ordered, EVENT_COLUMNS))
    else:
        rows = (ReadingRow(_ts(t), str(d), str(k), _zone(z), str(m), float(v))
                for t, d, k, z, m, v in _columns(ordered, READING_COLUMNS))
        signals = engine.feed(rows) + engine.tick(end)
    return [e for e in episodes(signals) if start <= e.first_seen <= end]


def _columns(frame: pd.DataFrame, names: list[str]) -> Iterator[tuple[Any, ...]]:
    arrays: list[list[Any]] = [list(frame[n].to_numpy(dtype=object)) for n in names]
    return zip(*arrays, strict=True)


def _ts(value: Any) -> datetime:
    return pd.Timestamp(value).to_pydatetime()


def _zone(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


async def history(conn: AsyncConn, rule: VersionedRule, start: datetime, end: datetime,
                  intervals: Mapping[str, float]) -> pd.DataFrame:
    """The rows *rule* reads from its lookback before *start* up to *end*."""
    since = start - timedelta(seconds=Engine([rule], intervals).lookback_s())
    s = rule.spec
    if s.kind == "event_map":
        cur = await conn.execute(
            "SELECT e.ts, e.device_id, d.kind, d.zone, e.type, e.severity "
            "FROM hub.events e JOIN hub.devices d ON d.id = e.device_id "
            "WHERE e.ts >= %s AND e.ts <= %s AND e.type = ANY(%s)", (since, end, sorted(s.events)))
        events = pd.DataFrame(await cur.fetchall(), columns=EVENT_COLUMNS)
        events["ts"] = pd.to_datetime(events["ts"], utc=True)
        return events
    cur = await conn.execute(
        "SELECT t.ts, t.device_id, d.kind, d.zone, t.metric, t.value "
        "FROM hub.telemetry t JOIN hub.devices d ON d.id = t.device_id "
        "WHERE t.ts >= %s AND t.ts <= %s AND (%s::text IS NULL OR t.metric = %s) "
        "AND (%s::text IS NULL OR d.kind = %s)",
        (since, end, s.metric, s.metric, s.device_kind, s.device_kind))
    frame = pd.DataFrame(await cur.fetchall(), columns=READING_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame

