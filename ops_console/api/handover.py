"""/api/v1/handover: the shift handover report, as JSON and as a printable page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from hub.settings import Settings
from hub.users import STAFF_ROLES
from ops_console.alert_reports import Handover, HandoverEntry, handover
from ops_console.api.alert_models import AlertOut, alert_out
from ops_console.api.kpis import KpisOut, kpis_out
from ops_console.auth import Principal, require_roles
from ops_console.db import DbConn, SettingsDep
from ops_console.handover_page import render
from ops_console.params import time_range

router = APIRouter(prefix="/api/v1/handover", tags=["alerts"])
READERS = STAFF_ROLES
Reader = Annotated[Principal, Depends(require_roles(*READERS))]


class EntryOut(BaseModel):
    seq: int
    at: datetime
    alert_id: int
    alert_title: str
    zone: str | None
    actor: str
    action: str
    from_state: str | None
    to_state: str
    details: dict[str, Any]


class HandoverOut(BaseModel):
    since: datetime
    until: datetime
    zone: str | None
    open_alerts: list[AlertOut]
    raised: int
    actions: list[EntryOut]
    notes: list[EntryOut]
    kpis: KpisOut


def _entry(e: HandoverEntry) -> EntryOut:
    return EntryOut(seq=e.seq, at=e.at, alert_id=e.alert_id, alert_title=e.alert_title, zone=e.zone,
                    actor=e.actor, action=e.action, from_state=e.from_state, to_state=e.to_state,
                    details=dict(e.details))


async def _report(conn: DbConn, settings: Settings, since: str | None, until: str | None,
                  zone: str | None) -> Handover:
    lower, upper = time_range(since, until, now=datetime.now(UTC),
                              default_span=timedelta(hours=settings.handover_hours))
    return await handover(conn, since=lower, until=upper, timezone=settings.ops_timezone, zone=zone)


_Since = Annotated[str | None, Query(description="Shift start (ISO-8601); default "
                                                 "CITYHUB_HANDOVER_HOURS before `until`.")]
_Until = Annotated[str | None, Query(description="Shift end (ISO-8601); default now.")]


@router.get("", responses={400: {}})
async def get_handover(principal: Reader, conn: DbConn, settings: SettingsDep,
                       since: _Since = None, until: _Until = None, zone: str | None = None) -> HandoverOut:
    """Open alerts now, and the actions and notes of the shift."""
    r = await _report(conn, settings, since, until, zone)
    return HandoverOut(since=r.since, until=r.until, zone=r.zone,
                       open_alerts=[alert_out(a) for a in r.open_alerts], raised=r.raised,
                       actions=[_entry(e) for e in r.actions], notes=[_entry(e) for e in r.notes],
                       kpis=kpis_out(r.kpis))


@router.get("/print", response_class=HTMLResponse, responses={400: {}})
async def print_handover(principal: Reader, conn: DbConn, settings: SettingsDep,
                         since: _Since = None, until: _Until = None,
                         zone: str | None = None) -> HTMLResponse:
    """The same report as a printable HTML page, times in the centre's time zone."""
    # Settings checked the name at start-up.
    tz = ZoneInfo(settings.ops_timezone)
    r = await _report(conn, settings, since, until, zone)
    return HTMLResponse(render(r, tz))
