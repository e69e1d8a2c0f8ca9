"""Signals from the engine into the hub's alert table: raise or update, and lift.

A :class:`~analytics.engine.Raised` goes through :func:`hub.alert_store.raise_or_update` (its
dedupe, change log and live view) with the rule version and suggested agency set on the
session, where migration 0016's trigger copies them into a new alert. A
:class:`~analytics.engine.Lifted` resolves the live alert with outcome ``cleared`` (an
assigned agency is told, as when an operator clears it) unless it was seen again since.
An :class:`AlertTally` (the service's metrics, analytics/metrics.py) hears of each alert opened
and lifted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any, Protocol

import psycopg

from analytics.engine import Lifted, Raised, Signal
from analytics.spec import DISTRICT
from hub.alert_store import act, raise_or_update
from hub.alerts import Action, Alert, Occurrence
from hub.errors import Conflict

log = logging.getLogger(__name__)
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
ACTOR = "analytics"


class AlertTally(Protocol):
    def alert_raised(self, rule_id: str) -> None: ...
    def alert_lifted(self, rule_id: str) -> None: ...


def opened_now(alert: Alert) -> bool:
    """Whether ``raise_or_update`` opened *alert* rather than updating a live one."""
    # It inserts the alert and records its "raised" change in one transaction, so both carry
    # that transaction's now(); any later change is stamped by a later transaction (on an
    # autocommit connection, as the service's is; not inside a caller's longer transaction).
    return alert.created_at == alert.updated_at


def _count(changed: Sequence[Alert], tally: AlertTally | None) -> int:
    if tally is not None:
        for alert in changed:
            if opened_now(alert):
                tally.alert_raised(alert.rule_id)
    return len(changed)


def agency_for(agency: str | None, zone: str | None, known: frozenset[str]) -> str | None:
    """The agency id a rule suggests; ``district`` is the zone's office (``<zone>-office``)."""
    if agency == DISTRICT:
        office = f"{zone}-office" if zone else None
        return office if office in known else None
    return agency if agency in known else None


async def _session(conn: AsyncConn, version: int | None, agency: str | None) -> None:
    await conn.execute("SELECT set_config('cityhub.rule_version', %s, false), "
                       "set_config('cityhub.rule_agency', %s, false)",
                       ("" if version is None else str(version), agency or ""))


async def raise_plain(conn: AsyncConn, occurrences: Sequence[Occurrence],
                      tally: AlertTally | None = None) -> int:
    """Occurrences no rule version stands behind (device events no rule maps)."""
    if not occurrences:
        return 0
    await _session(conn, None, None)
    return _count(await raise_or_update(conn, occurrences), tally)


async def _raise(conn: AsyncConn, raised: Sequence[Raised], agencies: frozenset[str],
                 tally: AlertTally | None) -> int:
    groups: dict[tuple[int, str | None], list[Occurrence]] = {}
    for r in raised:
        key = (r.version, agency_for(r.agency, r.occurrence.zone, agencies))
        groups.setdefault(key, []).append(r.occurrence)
    changed = 0
    try:
        for (version, agency), occurrences in groups.items():
            await _session(conn, version, agency)
            changed += _count(await raise_or_update(conn, occurrences), tally)
    finally:
        await _session(conn, None, None)
    return changed


async def _lift(conn: AsyncConn, lifted: Lifted) -> int:
    cur = await conn.execute(
        "SELECT id FROM hub.alerts WHERE device_id = %s AND rule_id = %s "
        "AND state IN ('open', 'acknowledged', 'assigned') AND last_seen < %s",
        (lifted.device_id, lifted.rule_id, lifted.ts))
    row = await cur.fetchone()
    if row is None:
        return 0
    text = f"Lifted by rule {lifted.rule_id}: {lifted.level} no longer holds at {lifted.ts.isoformat()}."
    try:
        await act(conn, int(row[0]), Action("resolve", ACTOR, outcome="cleared", text=text))
    except Conflict:
        return 0  # an operator resolved it in the meantime
    return 1


async def apply(conn: AsyncConn, signals: Iterable[Signal], agencies: frozenset[str],
                tally: AlertTally | None = None) -> int:
    """Apply *signals* in order (a lift between two raises of a series matters); returns how
    many alerts changed."""
    changed = 0
    for is_raise, run in groupby(signals, key=lambda s: isinstance(s, Raised)):
        items = list(run)
        if is_raise:
            changed += await _raise(conn, [s for s in items if isinstance(s, Raised)], agencies,
                                    tally)
        else:
            for s in items:
                if isinstance(s, Lifted) and await _lift(conn, s):
                    changed += 1
                    if tally is not None:
                        tally.alert_lifted(s.rule_id)
    return changed
