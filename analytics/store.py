"""Rules in the hub: list, read, create, edit, enable/disable; every change a new version.

``hub.rules`` holds each rule's current version and state, ``hub.rule_versions`` every
version's document (migration 0016). A change is checked (analytics/spec.py, then against
the hub: the device kind, its metric and the agency must exist) and refused with
:class:`analytics.spec.RuleError` naming the field; each change is appended to the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from analytics.spec import DISTRICT, RuleError, RuleSpec, parse, to_document
from hub import audit
from hub.errors import AlreadyExists, NotFound
from hub.notify import RULES

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
# Notified with the rule id on every change, so the analytics service reloads at once.


@dataclass(frozen=True, slots=True)
class StoredRule:
    spec: RuleSpec
    version: int
    enabled: bool
    builtin: bool
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class RuleVersion:
    version: int
    enabled: bool
    created_at: datetime
    created_by: str
    note: str | None
    document: Mapping[str, Any]


_SELECT = sql.SQL(
    "SELECT r.id, v.spec, r.version, r.enabled, r.builtin, r.updated_at, r.updated_by "
    "FROM hub.rules r JOIN hub.rule_versions v ON v.rule_id = r.id AND v.version = r.version")


def _stored(row: Sequence[Any]) -> StoredRule:
    return StoredRule(parse(row[1], rule_id=row[0]), int(row[2]), bool(row[3]), bool(row[4]), row[5], row[6])


async def list_rules(conn: AsyncConn, *, enabled_only: bool = False) -> list[StoredRule]:
    where = sql.SQL(" WHERE r.enabled") if enabled_only else sql.SQL("")
    cur = await conn.execute(sql.SQL("{}{} ORDER BY r.id").format(_SELECT, where))
    return [_stored(row) for row in await cur.fetchall()]


async def get_rule(conn: AsyncConn, rule_id: str, *, lock: bool = False) -> StoredRule:
    cur = await conn.execute(sql.SQL("{} WHERE r.id = %s{}").format(
        _SELECT, sql.SQL(" FOR UPDATE OF r") if lock else sql.SQL("")), (rule_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"There is no rule {rule_id!r}; `cityhub analytics rules list` lists them.")
    return _stored(row)


async def versions(conn: AsyncConn, rule_id: str) -> list[RuleVersion]:
    await get_rule(conn, rule_id)
    cur = await conn.execute(
        "SELECT version, enabled, created_at, created_by, note, spec FROM hub.rule_versions "
        "WHERE rule_id = %s ORDER BY version", (rule_id,))
    return [RuleVersion(int(r[0]), bool(r[1]), r[2], r[3], r[4], r[5]) for r in await cur.fetchall()]


async def check_against_hub(conn: AsyncConn, spec: RuleSpec) -> None:
    """Refuse a rule naming a device kind, metric or agency the hub does not know."""
    if spec.device_kind is not None:
        cur = await conn.execute("SELECT spec FROM hub.device_kinds WHERE name = %s", (spec.device_kind,))
        row = await cur.fetchone()
        if row is None:
            raise RuleError("device_kind", f"there is no device kind {spec.device_kind!r}")
        if spec.metric is not None and spec.metric not in (row[0].get("metrics") or {}):
            raise RuleError("metric", f"devices of kind {spec.device_kind!r} do not report {spec.metric!r}")
    elif spec.metric is not None:
        cur = await conn.execute("SELECT 1 FROM hub.device_kinds WHERE spec->'metrics' ? %s", (spec.metric,))
        if await cur.fetchone() is None:
            raise RuleError("metric", f"no device kind reports {spec.metric!r}")
    agencies = [("agency", spec.agency)] + [(f"events.{t}.agency", a.agency) for t, a in spec.events.items()]
    for where, agency in agencies:
        if agency is None or agency == DISTRICT:
            continue
        cur = await conn.execute("SELECT 1 FROM hub.agencies WHERE id = %s", (agency,))
        if await cur.fetchone() is None:
            raise RuleError(where, f"there is no agency {agency!r} (or say {DISTRICT!r}: the zone's office)")


async def _write(conn: AsyncConn, spec: RuleSpec, version: int, enabled: bool, actor: str,
                 note: str | None) -> None:
    await conn.execute(
        "INSERT INTO hub.rule_versions (rule_id, version, spec, enabled, created_by, note) "
        "VALUES (%s, %s, %s, %s, %s, %s)", (spec.id, version, Jsonb(to_document(spec)), enabled, actor, note))
    await conn.execute("UPDATE hub.rules SET version = %s, enabled = %s, updated_at = now(), updated_by = %s "
                       "WHERE id = %s", (version, enabled, actor, spec.id))
    await conn.execute("SELECT pg_notify(%s, %s)", (RULES, spec.id))
    await audit.append(conn, actor=actor, action="rule.version", target=f"rule:{spec.id}",
                       details={"version": version, "enabled": enabled, "note": note})


async def create(conn: AsyncConn, doc: Mapping[str, Any], actor: str, *, enabled: bool = True,
                 note: str | None = None) -> StoredRule:
    spec = parse(doc)
    async with conn.transaction():
        await check_against_hub(conn, spec)
        try:
            async with conn.transaction():
                await conn.execute("INSERT INTO hub.rules (id, kind, version, enabled, updated_by) "
                                   "VALUES (%s, %s, 1, %s, %s)", (spec.id, spec.kind, enabled, actor))
        except psycopg.errors.UniqueViolation as exc:
            raise AlreadyExists(f"Rule {spec.id!r} exists already; edit it instead.") from exc
        await _write(conn, spec, 1, enabled, actor, note)
        return await get_rule(conn, spec.id)


async def edit(conn: AsyncConn, rule_id: str, doc: Mapping[str, Any], actor: str, *,
               note: str | None = None) -> StoredRule:
    """A new version of *rule_id* from *doc* (its ``id``, if given, must be *rule_id*)."""
    if "id" in doc and doc["id"] != rule_id:
        raise RuleError("id", f"is {doc['id']!r}, but the rule edited is {rule_id!r}; ids do not change")
    spec = parse(doc, rule_id=rule_id)
    async with conn.transaction():
        current = await get_rule(conn, rule_id, lock=True)
        if spec.kind != current.spec.kind:
            raise RuleError("kind", f"stays {current.spec.kind!r}; add a new rule for another kind")
        await check_against_hub(conn, spec)
        await _write(conn, spec, current.version + 1, current.enabled, actor, note)
        return await get_rule(conn, rule_id)


async def set_enabled(conn: AsyncConn, rule_id: str, enabled: bool, actor: str) -> StoredRule:
    """Enable or disable a rule: a new version with the same document (unchanged state: no-op)."""
    async with conn.transaction():
        current = await get_rule(conn, rule_id, lock=True)
        if current.enabled == enabled:
            return current
        await _write(conn, current.spec, current.version + 1, enabled, actor,
                     "enabled" if enabled else "disabled")
        return await get_rule(conn, rule_id)
