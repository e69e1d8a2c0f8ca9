"""/api/v1/alerts: list and filter alerts, read one with its timeline, act on it, tick its SOP.

Who may do what (docs/alerts.md): operators, supervisors and admins act on alerts;
reopening a resolved or closed alert is for supervisors and admins; analysts read;
vendors see nothing. A refused transition answers 409 with the reason, a bad
request 400 or 422.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hub import alert_store
from hub.alerts import SEVERITIES, SOURCES, STATES, Action, ActionKind
from hub.errors import InvalidInput
from hub.users import OPERATIONS_ROLES, STAFF_ROLES
from ops_console.api.alert_models import (
    AgencyOut,
    AlertDetail,
    AlertOut,
    AlertPage,
    AssignIn,
    ChangeOut,
    NoteIn,
    OptionalNoteIn,
    ResolveIn,
    SopItemOut,
    TickIn,
    alert_out,
    change_out,
    detail_out,
    sop_out,
)
from ops_console.auth import Principal, require_roles
from ops_console.db import DbConn
from ops_console.params import parse_time

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
READERS = STAFF_ROLES
ACTORS = OPERATIONS_ROLES
SUPERVISORS = ("supervisor", "admin")

Reader = Annotated[Principal, Depends(require_roles(*READERS))]
Actor = Annotated[Principal, Depends(require_roles(*ACTORS))]
Supervisor = Annotated[Principal, Depends(require_roles(*SUPERVISORS))]
_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "Bad request, with the reason"},
    404: {"description": "No such alert"},
    409: {"description": "The alert's state does not allow this, with the reason"},
}


def _choices(name: str, given: list[str] | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    # Accepts repeated parameters and comma-separated lists: ?state=open,acknowledged
    values = tuple(v.strip() for item in given or () for v in item.split(",") if v.strip())
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidInput(f"{name}: unknown {', '.join(unknown)}; use {', '.join(allowed)}.")
    return values


@router.get("", responses=_ERRORS)
async def list_alerts(
    principal: Reader,
    conn: DbConn,
    state: Annotated[list[str] | None, Query(description="open, acknowledged, assigned, resolved, "
                                                   "closed; or 'live' for the first three")] = None,
    severity: Annotated[list[str] | None, Query()] = None,
    source: Annotated[list[str] | None, Query()] = None,
    zone: str | None = None,
    device: str | None = None,
    type: Annotated[str | None, Query(description="Alert type, e.g. air_quality or fire.")] = None,
    start: Annotated[str | None, Query(alias="from", description="Seen at or after (ISO-8601).")] = None,
    end: Annotated[str | None, Query(alias="to", description="First seen before (ISO-8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertPage:
    """Alerts matching every filter given, newest first, one page at a time."""
    wanted = _choices("state", state, (*STATES, "live"))
    states = tuple(s for w in wanted for s in (("open", "acknowledged", "assigned") if w == "live" else (w,)))
    f = alert_store.AlertFilter(
        states=states, severities=_choices("severity", severity, SEVERITIES),
        sources=_choices("source", source, SOURCES), zone=zone, device_id=device, alert_type=type,
        since=parse_time("from", start), until=parse_time("to", end))
    alerts, total = await alert_store.list_alerts(conn, f, limit=limit, offset=offset)
    delivery = await alert_store.delivery_states(conn, [a.id for a in alerts])
    return AlertPage(items=[alert_out(a, delivery.get(a.id)) for a in alerts], total=total,
                     limit=limit, offset=offset)


@router.get("/agencies")
async def list_agencies(principal: Reader, conn: DbConn) -> list[AgencyOut]:
    """Agencies an alert can be assigned to (webhook URLs are not shown)."""
    return [AgencyOut(id=a.id, name=a.name, kind=a.kind, code=a.code,
                      webhook_configured=a.webhook_url is not None, enabled=a.enabled)
            for a in await alert_store.agencies(conn)]


@router.get("/changes")
async def list_changes(
    principal: Reader, conn: DbConn,
    after: Annotated[int, Query(ge=0, description="Changes with seq greater than this.")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[ChangeOut]:
    """Every alert change after ``seq`` in order: how a live view catches up after a reconnect."""
    return [change_out(c) for c in await alert_store.changes_since(conn, after, limit=limit)]


@router.get("/{alert_id}", responses=_ERRORS)
async def get_alert(principal: Reader, conn: DbConn, alert_id: int) -> AlertDetail:
    """One alert with its timeline, SOP checklist and messages to agencies."""
    alert = await alert_store.get_alert(conn, alert_id)
    return detail_out(alert, await alert_store.timeline(conn, alert_id), await alert_store.sop(conn, alert),
                      await alert_store.deliveries(conn, alert_id))


@router.get("/{alert_id}/timeline", responses=_ERRORS)
async def get_timeline(principal: Reader, conn: DbConn, alert_id: int) -> list[ChangeOut]:
    await alert_store.get_alert(conn, alert_id)
    return [change_out(c) for c in await alert_store.timeline(conn, alert_id)]


async def _act(conn: DbConn, alert_id: int, kind: ActionKind, principal: Principal,
               **kw: str | None) -> AlertOut:
    alert = await alert_store.act(conn, alert_id, Action(kind, principal.username, **kw))
    delivery = await alert_store.delivery_states(conn, [alert.id])
    return alert_out(alert, delivery.get(alert.id))


@router.post("/{alert_id}/acknowledge", responses=_ERRORS)
async def acknowledge(principal: Actor, conn: DbConn, alert_id: int) -> AlertOut:
    """open → acknowledged."""
    return await _act(conn, alert_id, "acknowledge", principal)


@router.post("/{alert_id}/assign", responses=_ERRORS)
async def assign(principal: Actor, conn: DbConn, alert_id: int, body: AssignIn) -> AlertOut:
    """Give the alert to a user or an agency (an agency is sent the alert through the outbox)."""
    return await _act(conn, alert_id, "assign", principal, user=body.user, agency=body.agency,
                      text=body.note)


@router.post("/{alert_id}/escalate", responses=_ERRORS)
async def escalate(principal: Actor, conn: DbConn, alert_id: int,
                   body: OptionalNoteIn | None = None) -> AlertOut:
    """Raise the severity one step (info → warning → critical)."""
    return await _act(conn, alert_id, "escalate", principal, text=body.note if body else None)


@router.post("/{alert_id}/notes", responses=_ERRORS)
async def add_note(principal: Actor, conn: DbConn, alert_id: int, body: NoteIn) -> AlertOut:
    """Add a note to the alert's timeline (allowed in any state)."""
    return await _act(conn, alert_id, "note", principal, text=body.text)


@router.post("/{alert_id}/resolve", responses=_ERRORS)
async def resolve(principal: Actor, conn: DbConn, alert_id: int, body: ResolveIn) -> AlertOut:
    """End the alert with an outcome: cleared/handled → resolved, false_alarm/duplicate → closed."""
    return await _act(conn, alert_id, "resolve", principal, outcome=body.outcome, text=body.note)


@router.post("/{alert_id}/reopen", responses=_ERRORS)
async def reopen(principal: Supervisor, conn: DbConn, alert_id: int,
                 body: OptionalNoteIn | None = None) -> AlertOut:
    """Bring a resolved or closed alert back to where it was (supervisors and admins)."""
    return await _act(conn, alert_id, "reopen", principal, text=body.note if body else None)


@router.get("/{alert_id}/sop", responses=_ERRORS)
async def get_sop(principal: Reader, conn: DbConn, alert_id: int) -> list[SopItemOut]:
    """The standard operating procedure for the alert's type, with what has been ticked."""
    return sop_out(await alert_store.sop(conn, await alert_store.get_alert(conn, alert_id)))


@router.post("/{alert_id}/sop/{item_no}", responses=_ERRORS)
async def tick_sop(principal: Actor, conn: DbConn, alert_id: int, item_no: int,
                   body: TickIn | None = None) -> list[SopItemOut]:
    """Tick (``{"done": true}``, the default) or untick a checklist item; recorded on the timeline."""
    done = body.done if body else True
    return sop_out(await alert_store.tick(conn, alert_id, item_no, done, principal.username))

