"""Alerts in the database: raise or update, operator actions, timeline, lists, SOP ticks.

Every change writes one row in ``hub.alert_changes`` (its ``seq`` is the global
change order), moves the alert's ``last_seq``, and sends
``pg_notify('hub_alerts', {"alert_id", "seq", "state", "severity"})`` (hub.notify) in the same
transaction, so a listener hears of a change exactly when it is committed. Every
operator action is also appended to the audit log. Messages for an assigned agency
go to ``hub.dispatch_outbox`` in that same transaction (ops_console/dispatch.py sends
them). The rules of what may change live in :mod:`hub.alerts`; this module only
reads and writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hub import audit
from hub.alerts import (
    Action,
    Alert,
    Occurrence,
    OpenNew,
    Repeat,
    Skip,
    apply,
    merge,
    repeat_dispatch,
)
from hub.dispatch_payload import build_payload, idempotency_key
from hub.errors import Conflict, InvalidInput, NotFound
from hub.notify import ALERTS, AlertNote, encode_alert
from hub.users import OPERATIONS_ROLES

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
# Advisory lock key of alert changes ("alerts" in ASCII).
_CHANGES_LOCK = 0x616C65727473
SYSTEM_ACTOR = "analytics"
ASSIGNABLE_ROLES = OPERATIONS_ROLES

_FIELDS = (
    "id", "rule_id", "alert_type", "title", "source", "severity", "state", "device_id", "zone",
    "related_devices", "metric", "value", "count", "first_seen", "last_seen", "created_at",
    "updated_at", "acknowledged_at", "acknowledged_by", "assignee_user", "assignee_agency",
    "escalations", "resolved_at", "resolved_by", "outcome", "last_seq", "rule_version",
    "suggested_agency",
)
COLUMNS = sql.SQL(", ").join(sql.Identifier(f) for f in _FIELDS)
_LIVE = sql.SQL("state IN ('open', 'acknowledged', 'assigned')")


def to_alert(row: Sequence[Any]) -> Alert:
    values = dict(zip(_FIELDS, row, strict=True))
    values["related_devices"] = tuple(values["related_devices"] or ())
    return Alert(**values)


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    alert_id: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    severity: str
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AlertFilter:
    states: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    zone: str | None = None
    device_id: str | None = None
    alert_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class SopItem:
    item_no: int
    text: str
    done: bool
    ticked_by: str | None
    ticked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    agency_id: str
    status_code: str
    state: str
    attempts: int
    last_error: str | None
    response_status: int | None
    idempotency_key: str
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Agency:
    id: str
    name: str
    kind: str
    code: str | None
    webhook_url: str | None
    enabled: bool


async def lock_changes(conn: AsyncConn) -> None:
    """Serialise alert changes until this transaction ends.

    A live view resumes from the last ``seq`` it saw, so ``seq`` must follow commit
    order: without the lock a change that took a lower ``seq`` but committed later
    would be skipped by a client that resumed in between. Taken before any alert row
    lock, so the two locks are always taken in the same order.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CHANGES_LOCK,))


async def get_alert(conn: AsyncConn, alert_id: int, *, lock: bool = False) -> Alert:
    if lock:
        await lock_changes(conn)
    query = sql.SQL("SELECT {} FROM hub.alerts WHERE id = %s{}").format(
        COLUMNS, sql.SQL(" FOR UPDATE") if lock else sql.SQL(""))
    row = await (await conn.execute(query, (alert_id,))).fetchone()
    if row is None:
        raise NotFound(f"There is no alert {alert_id}.")
    return to_alert(row)


async def record_change(
    conn: AsyncConn, alert: Alert, *, actor: str, action: str, from_state: str | None,
    details: Mapping[str, Any],
) -> Alert:
    """Log one change of *alert* (as it is after the change) and notify listeners.

    Returns the alert as stored now: ``last_seq`` is the change's ``seq`` and
    ``updated_at`` its time. Callers must hold :func:`lock_changes` (``act``, ``tick``
    and the dispatcher through ``get_alert(lock=True)``, ``raise_or_update`` per alert),
    so that ``seq`` follows commit order.
    """
    cur = await conn.execute(
        "INSERT INTO hub.alert_changes (alert_id, actor, action, from_state, to_state, severity, details) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING seq, at",
        (alert.id, actor, action, from_state, alert.state, alert.severity, Jsonb(dict(details))),
    )
    row = await cur.fetchone()
    assert row is not None
    seq, at = int(row[0]), row[1]
    cur = await conn.execute(
        sql.SQL("UPDATE hub.alerts SET last_seq = %s, updated_at = %s WHERE id = %s RETURNING {}")
        .format(COLUMNS), (seq, at, alert.id))
    updated = await cur.fetchone()
    assert updated is not None
    note = AlertNote(alert.id, seq, alert.state, alert.severity)
    await conn.execute("SELECT pg_notify(%s, %s)", (ALERTS, encode_alert(note)))
    return to_alert(updated)


async def _enqueue(conn: AsyncConn, alert: Alert, dispatch: Sequence[tuple[str, str]]) -> None:
    """Queue *dispatch* for the change just recorded (the alert's ``last_seq``)."""
    if not dispatch:
        return
    position = None
    if alert.device_id is not None:
        cur = await conn.execute("SELECT lon, lat FROM hub.devices WHERE id = %s", (alert.device_id,))
        position = await cur.fetchone()
    lon, lat = (position[0], position[1]) if position else (None, None)
    for agency_id, code in dispatch:
        payload = build_payload(alert, status_code=code, agency_id=agency_id, lon=lon, lat=lat,
                                changed_at=alert.updated_at)
        await conn.execute(
            "INSERT INTO hub.dispatch_outbox (alert_id, agency_id, status_code, payload, idempotency_key) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING",
            (alert.id, agency_id, code, Jsonb(payload), idempotency_key(alert.id, alert.last_seq, agency_id)),
        )


async def _latest(conn: AsyncConn, device_id: str, rule_id: str) -> Alert | None:
    # The live alert if there is one, else the most recent: merge() needs its last_seen.
    cur = await conn.execute(
        sql.SQL("SELECT {} FROM hub.alerts WHERE device_id = %s AND rule_id = %s "
                "ORDER BY ({}) DESC, last_seen DESC, id DESC LIMIT 1 FOR UPDATE").format(COLUMNS, _LIVE),
        (device_id, rule_id),
    )
    row = await cur.fetchone()
    return None if row is None else to_alert(row)


async def _open(conn: AsyncConn, decision: OpenNew) -> Alert:
    o = decision.first
    cur = await conn.execute(
        sql.SQL(
            "INSERT INTO hub.alerts (rule_id, alert_type, title, source, severity, device_id, zone, "
            "related_devices, metric, value, count, first_seen, last_seen) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {}"
        ).format(COLUMNS),
        (o.rule_id, o.alert_type, o.title, o.source, decision.severity, o.device_id, o.zone,
         list(decision.related_devices), o.metric, decision.value, decision.count, o.ts,
         decision.last_seen),
    )
    row = await cur.fetchone()
    assert row is not None
    return to_alert(row)


async def _repeat(conn: AsyncConn, decision: Repeat) -> Alert:
    cur = await conn.execute(
        sql.SQL("UPDATE hub.alerts SET count = %s, last_seen = %s, severity = %s, value = %s, "
                "related_devices = %s WHERE id = %s RETURNING {}").format(COLUMNS),
        (decision.count, decision.last_seen, decision.severity, decision.value,
         list(decision.related_devices), decision.alert_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return to_alert(row)


async def raise_or_update(conn: AsyncConn, occurrences: Sequence[Occurrence]) -> list[Alert]:
    """Open an alert per new device+rule condition, or update the live one. Returns the changed."""
    groups: dict[tuple[str, str], list[Occurrence]] = defaultdict(list)
    for o in occurrences:
        groups[o.key].append(o)
    changed: list[Alert] = []
    for (device_id, rule_id), group in sorted(groups.items()):
        for attempt in (1, 2):
            try:
                async with conn.transaction():
                    await lock_changes(conn)
                    alert = await _raise_one(conn, device_id, rule_id, group)
                break
            except psycopg.errors.UniqueViolation:
                # Another process opened the live alert first; the second pass updates it.
                if attempt == 2:
                    raise
        if alert is not None:
            changed.append(alert)
    return changed


async def _raise_one(conn: AsyncConn, device_id: str, rule_id: str,
                     group: Sequence[Occurrence]) -> Alert | None:
    latest = await _latest(conn, device_id, rule_id)
    decision = merge(latest, group)
    if isinstance(decision, Skip):
        return None
    if isinstance(decision, OpenNew):
        alert = await _open(conn, decision)
        details: dict[str, Any] = {"count": alert.count, "metric": alert.metric, "value": alert.value}
        return await record_change(conn, alert, actor=SYSTEM_ACTOR, action="raised", from_state=None,
                                   details=details)
    assert latest is not None
    alert = await _repeat(conn, decision)
    details = {"count": alert.count, "value": alert.value, "severity_raised": decision.severity_raised}
    recorded = await record_change(conn, alert, actor=SYSTEM_ACTOR, action="repeated",
                                   from_state=alert.state, details=details)
    await _enqueue(conn, recorded, repeat_dispatch(latest, decision))
    return recorded


async def _check_assignee(conn: AsyncConn, action: Action) -> None:
    if action.agency:
        cur = await conn.execute("SELECT enabled FROM hub.agencies WHERE id = %s", (action.agency,))
        row = await cur.fetchone()
        if row is None:
            raise InvalidInput(
                f"There is no agency {action.agency!r}; GET /api/v1/alerts/agencies lists them.")
        if not row[0]:
            raise InvalidInput(f"Agency {action.agency!r} is disabled.")
    if action.user:
        cur = await conn.execute("SELECT role, disabled FROM hub.users WHERE username = %s", (action.user,))
        row = await cur.fetchone()
        if row is None:
            raise InvalidInput(f"There is no user {action.user!r}.")
        if row[1] or row[0] not in ASSIGNABLE_ROLES:
            raise InvalidInput(
                f"User {action.user!r} cannot take alerts (disabled, or role {row[0]!r} is not one of "
                f"{', '.join(ASSIGNABLE_ROLES)})."
            )


async def act(conn: AsyncConn, alert_id: int, action: Action) -> Alert:
    """Apply an operator's action in one transaction: alert, change log, outbox, audit log."""
    async with conn.transaction():
        alert = await get_alert(conn, alert_id, lock=True)
        transition = apply(alert, action, datetime.now(UTC))
        if action.kind == "assign":
            await _check_assignee(conn, action)
        if action.kind == "reopen" and alert.device_id is not None:
            cur = await conn.execute(
                sql.SQL("SELECT id FROM hub.alerts WHERE device_id = %s AND rule_id = %s AND {}")
                .format(_LIVE), (alert.device_id, alert.rule_id))
            other = await cur.fetchone()
            if other is not None:
                raise Conflict(f"Alert {other[0]} is already live for the same device and rule; "
                               "work that one instead of reopening this.")
        sets: list[sql.Composable] = [sql.SQL("state = %s"), sql.SQL("severity = %s")]
        params: list[Any] = [transition.to_state, transition.severity]
        for column, value in transition.updates.items():
            if column in ("state", "severity"):
                continue
            sets.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
        cur = await conn.execute(
            sql.SQL("UPDATE hub.alerts SET {} WHERE id = %s RETURNING {}").format(
                sql.SQL(", ").join(sets), COLUMNS),
            (*params, alert_id),
        )
        row = await cur.fetchone()
        assert row is not None
        recorded = await record_change(conn, to_alert(row), actor=action.actor, action=transition.action,
                                       from_state=transition.from_state, details=transition.details)
        await _enqueue(conn, recorded, transition.dispatch)
        await audit.append(conn, actor=action.actor, action=f"alert.{transition.action}",
                           target=f"alert:{alert_id}",
                           details={"from": transition.from_state, "to": transition.to_state,
                                    "seq": recorded.last_seq, **transition.details})
        return recorded


def _change(row: Sequence[Any]) -> Change:
    return Change(int(row[0]), int(row[1]), row[2], row[3], row[4], row[5], row[6], row[7], row[8])


_CHANGE_COLUMNS = sql.SQL("seq, alert_id, at, actor, action, from_state, to_state, severity, details")


async def timeline(conn: AsyncConn, alert_id: int) -> list[Change]:
    cur = await conn.execute(
        sql.SQL("SELECT {} FROM hub.alert_changes WHERE alert_id = %s ORDER BY seq").format(_CHANGE_COLUMNS),
        (alert_id,))
    return [_change(r) for r in await cur.fetchall()]


async def changes_since(conn: AsyncConn, after_seq: int, *, limit: int = 500) -> list[Change]:
    """Changes after *after_seq* in order: how a live view resumes after a reconnect."""
    cur = await conn.execute(
        sql.SQL("SELECT {} FROM hub.alert_changes WHERE seq > %s ORDER BY seq LIMIT %s")
        .format(_CHANGE_COLUMNS), (after_seq, limit))
    return [_change(r) for r in await cur.fetchall()]


def _where(f: AlertFilter) -> tuple[sql.Composable, list[Any]]:
    clauses: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    for column, values in (("state", f.states), ("severity", f.severities), ("source", f.sources)):
        if values:
            clauses.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)))
            params.append(list(values))
    for column, value in (("zone", f.zone), ("device_id", f.device_id), ("alert_type", f.alert_type)):
        if value is not None:
            clauses.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if f.since is not None:
        clauses.append(sql.SQL("last_seen >= %s"))
        params.append(f.since)
    if f.until is not None:
        clauses.append(sql.SQL("first_seen < %s"))
        params.append(f.until)
    return sql.SQL(" AND ").join(clauses), params


async def list_alerts(conn: AsyncConn, f: AlertFilter, *, limit: int = 50,
                      offset: int = 0) -> tuple[list[Alert], int]:
    """One page of alerts, newest first, and how many match in all."""
    where, params = _where(f)
    cur = await conn.execute(
        sql.SQL("SELECT {} FROM hub.alerts WHERE {} ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s")
        .format(COLUMNS, where), (*params, limit, offset))
    alerts = [to_alert(r) for r in await cur.fetchall()]
    cur = await conn.execute(sql.SQL("SELECT count(*) FROM hub.alerts WHERE {}").format(where), params)
    total = await cur.fetchone()
    return alerts, int(total[0]) if total else 0


async def sop(conn: AsyncConn, alert: Alert) -> list[SopItem]:
    """The checklist of the alert's type ('default' when the type has none) with its ticks."""
    cur = await conn.execute(
        "SELECT i.item_no, i.text, coalesce(t.done, false), t.ticked_by, t.ticked_at "
        "FROM hub.sop_items i LEFT JOIN hub.alert_sop_ticks t "
        "  ON t.alert_id = %(id)s AND t.item_no = i.item_no "
        "WHERE i.alert_type = CASE WHEN EXISTS (SELECT 1 FROM hub.sop_items WHERE alert_type = %(type)s) "
        "                          THEN %(type)s ELSE 'default' END "
        "ORDER BY i.item_no",
        {"id": alert.id, "type": alert.alert_type},
    )
    return [SopItem(int(r[0]), r[1], bool(r[2]), r[3], r[4]) for r in await cur.fetchall()]


async def tick(conn: AsyncConn, alert_id: int, item_no: int, done: bool, actor: str) -> list[SopItem]:
    """Tick (or untick) one checklist item, recorded in the timeline and the audit log."""
    async with conn.transaction():
        alert = await get_alert(conn, alert_id, lock=True)
        if not alert.live:
            raise Conflict(f"Alert {alert_id} is {alert.state}; reopen it before changing its checklist.")
        items = {i.item_no: i for i in await sop(conn, alert)}
        item = items.get(item_no)
        if item is None:
            raise NotFound(f"The {alert.alert_type} checklist has no item {item_no}; "
                           f"items are 1–{max(items, default=0)}.")
        if item.done == done:
            raise Conflict(f"Item {item_no} is already {'ticked' if done else 'not ticked'}.")
        await conn.execute(
            "INSERT INTO hub.alert_sop_ticks (alert_id, item_no, done, ticked_by) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (alert_id, item_no) DO UPDATE SET done = EXCLUDED.done, "
            "ticked_by = EXCLUDED.ticked_by, ticked_at = now()",
            (alert_id, item_no, done, actor))
        details = {"item": item_no, "text": item.text, "done": done}
        recorded = await record_change(conn, alert, actor=actor, action="sop_tick",
                                       from_state=alert.state, details=details)
        await audit.append(conn, actor=actor, action="alert.sop_tick", target=f"alert:{alert_id}",
                           details={"seq": recorded.last_seq, **details})
        return await sop(conn, alert)


async def deliveries(conn: AsyncConn, alert_id: int) -> list[Delivery]:
    cur = await conn.execute(
        "SELECT id, agency_id, status_code, state, attempts, last_error, response_status, "
        "idempotency_key, created_at, next_attempt_at, delivered_at "
        "FROM hub.dispatch_outbox WHERE alert_id = %s ORDER BY id", (alert_id,))
    return [Delivery(*r) for r in await cur.fetchall()]


async def delivery_states(conn: AsyncConn, alert_ids: Sequence[int]) -> dict[int, str]:
    """The state of each alert's latest message to an agency (alerts without any are absent)."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (alert_id) alert_id, state FROM hub.dispatch_outbox "
        "WHERE alert_id = ANY(%s) ORDER BY alert_id, id DESC", (list(alert_ids),))
    return {int(r[0]): str(r[1]) for r in await cur.fetchall()}


async def agencies(conn: AsyncConn) -> list[Agency]:
    cur = await conn.execute(
        "SELECT id, name, kind, code, webhook_url, enabled FROM hub.agencies ORDER BY kind, id")
    return [Agency(*r) for r in await cur.fetchall()]
