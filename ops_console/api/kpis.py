"""/api/v1/kpis: devices online, open alerts by severity, mean times to acknowledge and resolve."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from hub.users import STAFF_ROLES
from ops_console.alert_reports import Kpis, kpis
from ops_console.auth import Principal, require_roles
from ops_console.db import DbConn, SettingsDep

router = APIRouter(prefix="/api/v1/kpis", tags=["alerts"])
READERS = STAFF_ROLES


class KpisOut(BaseModel):
    day: date
    timezone: str
    zone: str | None
    devices_total: int = Field(description="Active (not revoked) devices.")
    devices_online: int
    devices_online_pct: float | None = Field(description="None when there are no devices.")
    open_alerts: int = Field(description="Alerts open, acknowledged or assigned.")
    open_by_severity: dict[str, int]
    acknowledged_today: int
    mean_time_to_acknowledge_s: float | None = Field(
        description="Over alerts acknowledged today: acknowledged_at − created_at.")
    resolved_today: int
    mean_time_to_resolve_s: float | None = Field(
        description="Over alerts resolved or closed today: resolved_at − created_at.")


def kpis_out(k: Kpis) -> KpisOut:
    return KpisOut(
        day=k.day, timezone=k.timezone, zone=k.zone, devices_total=k.devices_total,
        devices_online=k.devices_online, devices_online_pct=k.devices_online_pct,
        open_alerts=k.open_total, open_by_severity=dict(k.open_by_severity),
        acknowledged_today=k.acknowledged_today, mean_time_to_acknowledge_s=k.mean_time_to_acknowledge_s,
        resolved_today=k.resolved_today, mean_time_to_resolve_s=k.mean_time_to_resolve_s,
    )


@router.get("", responses={400: {}})
async def get_kpis(
    principal: Annotated[Principal, Depends(require_roles(*READERS))],
    conn: DbConn,
    settings: SettingsDep,
    zone: str | None = None,
    day: Annotated[date | None, Query(description="YYYY-MM-DD in the centre's time zone; "
                                                  "default today.")] = None,
) -> KpisOut:
    """The operations centre's key figures for a day (today by default), optionally for one zone."""
    return kpis_out(await kpis(conn, timezone=settings.ops_timezone, zone=zone, day=day))
