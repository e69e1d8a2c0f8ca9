"""/api/v1/devices/{device_id}/forecast: a station's newest forecast run (analytics/forecast).

The same readers as the device's readings. ``points`` is empty while the station has no
forecast (no trained model yet, or no reading in its last complete hour).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from analytics.forecast import db as forecasts
from hub.errors import NotFound
from ops_console.api.telemetry import READERS
from ops_console.auth import Principal, require_roles
from ops_console.db import DbConn

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


class ForecastPoint(BaseModel):
    target_at: datetime  # start of the hour forecast
    horizon_h: int
    value: float


class ForecastRun(BaseModel):
    device_id: str
    metric: str
    made_at: datetime | None  # end of the last complete hour the forecast used
    model_version: int | None
    points: list[ForecastPoint]


@router.get("/{device_id}/forecast", responses={404: {}})
async def device_forecast(
    principal: Annotated[Principal, Depends(require_roles(*READERS))],
    conn: DbConn,
    device_id: str,
    metric: Annotated[str, Query(description="Only pm25 is forecast today.")] = "pm25",
) -> ForecastRun:
    """The hourly means forecast 1-6 h ahead by the newest run for the device."""
    cur = await conn.execute("SELECT 1 FROM hub.devices WHERE id = %s", (device_id,))
    if await cur.fetchone() is None:
        raise NotFound(f"No device with id {device_id!r} is registered.")
    run = await forecasts.latest(conn, device_id, metric)
    return ForecastRun(device_id=device_id, metric=metric,
                       made_at=run[0].made_at if run else None,
                       model_version=run[0].model_version if run else None,
                       points=[ForecastPoint(target_at=f.target_at, horizon_h=f.horizon_h, value=f.value)
                               for f in run])
