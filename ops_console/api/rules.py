"""/api/v1/rules: the alert rules as data (analytics/store.py), and the map's CAI categories.

- ``GET /api/v1/rules`` — ``{"rules": [rule, …]}`` (staff roles read);
- ``GET /api/v1/rules/cai`` — ``{"stations": {device_id: {"category", "pm10", "pm25"}}}``: each
  air-quality station's hourly means and CAI category (analytics/cai.py), for the map;
- ``GET /api/v1/rules/{id}`` — the rule with ``"versions"``;
- ``POST /api/v1/rules`` — supervisor, admin: body ``{"rule": document, "enabled"?, "note"?}``;
  201 with the rule, 409 if the id exists;
- ``PUT /api/v1/rules/{id}`` — supervisor, admin: ``{"rule": document, "note"?}``, a new version;
- ``POST /api/v1/rules/{id}/enable`` and ``…/disable`` — supervisor, admin.

A rule with an error is refused with 400 and ``{"detail": "field: reason", "field": "…"}``.
A rule is ``{"id", "version", "enabled", "builtin", "updated_at", "updated_by", "rule"}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from analytics import cai, store
from analytics.spec import RuleError, to_document
from hub.users import STAFF_ROLES
from ops_console.auth import Principal, require_roles
from ops_console.db import DbConn

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])
MANAGERS = ("supervisor", "admin")
Reader = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
Manager = Annotated[Principal, Depends(require_roles(*MANAGERS))]
_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "The rule is wrong: detail and field say where"},
    404: {"description": "No such rule"},
}


class VersionOut(BaseModel):
    version: int
    enabled: bool
    created_at: datetime
    created_by: str
    note: str | None
    rule: dict[str, Any]


class RuleOut(BaseModel):
    id: str
    version: int
    enabled: bool
    builtin: bool
    updated_at: datetime
    updated_by: str
    rule: dict[str, Any]
    versions: list[VersionOut] | None = None


class RuleIn(BaseModel):
    rule: dict[str, Any]
    enabled: bool = True
    note: str | None = None


def _out(r: store.StoredRule, versions: list[store.RuleVersion] | None = None) -> RuleOut:
    return RuleOut(
        id=r.spec.id, version=r.version, enabled=r.enabled, builtin=r.builtin, updated_at=r.updated_at,
        updated_by=r.updated_by, rule=to_document(r.spec),
        versions=None if versions is None else [
            VersionOut(version=v.version, enabled=v.enabled, created_at=v.created_at,
                       created_by=v.created_by, note=v.note, rule=dict(v.document)) for v in versions])


def _refused(exc: RuleError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "field": exc.field}, status_code=status.HTTP_400_BAD_REQUEST)


@router.get("")
async def list_rules(principal: Reader, conn: DbConn) -> dict[str, list[RuleOut]]:
    """Every rule at its current version, enabled or not."""
    return {"rules": [_out(r) for r in await store.list_rules(conn)]}


@router.get("/cai")
async def cai_categories(principal: Reader, conn: DbConn) -> dict[str, dict[str, dict[str, Any]]]:
    """Each air-quality station's PM10 and PM2.5 means over the last hour and its CAI category."""
    cur = await conn.execute(
        "SELECT t.device_id, t.metric, avg(t.value) FROM hub.telemetry t "
        "JOIN hub.devices d ON d.id = t.device_id "
        "WHERE d.kind = 'air_quality' AND t.metric = ANY(%s) "
        "AND t.ts > now() - make_interval(secs => %s) GROUP BY t.device_id, t.metric",
        (sorted(cai.BANDS), cai.WINDOW_S))
    means: dict[str, dict[str, float]] = {}
    for device_id, metric, mean in await cur.fetchall():
        means.setdefault(str(device_id), {})[str(metric)] = round(float(mean), 1)
    return {"stations": {d: {"category": cai.station_category(m), **m} for d, m in sorted(means.items())}}


@router.get("/{rule_id}", responses=_ERRORS)
async def get_rule(rule_id: str, principal: Reader, conn: DbConn) -> RuleOut:
    """One rule with every version."""
    return _out(await store.get_rule(conn, rule_id), await store.versions(conn, rule_id))


@router.post("", status_code=status.HTTP_201_CREATED, responses=_ERRORS, response_model=RuleOut)
async def create_rule(principal: Manager, conn: DbConn, body: RuleIn) -> RuleOut | JSONResponse:
    """Add a rule (version 1)."""
    try:
        stored = await store.create(conn, body.rule, principal.username, enabled=body.enabled, note=body.note)
    except RuleError as exc:
        return _refused(exc)
    return _out(stored)


@router.put("/{rule_id}", responses=_ERRORS, response_model=RuleOut)
async def edit_rule(rule_id: str, principal: Manager, conn: DbConn, body: RuleIn) -> RuleOut | JSONResponse:
    """Store a new version of the rule from the document."""
    try:
        stored = await store.edit(conn, rule_id, body.rule, principal.username, note=body.note)
    except RuleError as exc:
        return _refused(exc)
    return _out(stored)


@router.post("/{rule_id}/{action}", responses=_ERRORS, response_model=RuleOut)
async def enable_or_disable(rule_id: str, action: str, principal: Manager,
                            conn: DbConn) -> RuleOut | JSONResponse:
    """``enable`` or ``disable`` the rule (a new version when its state changes)."""
    if action not in ("enable", "disable"):
        return JSONResponse({"detail": f"Unknown action {action!r}; use enable or disable."},
                            status_code=status.HTTP_404_NOT_FOUND)
    return _out(await store.set_enabled(conn, rule_id, action == "enable", principal.username))
