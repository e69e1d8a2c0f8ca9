"""Raising alerts for the console's tests through the real store (hub.alert_store)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import psycopg

from hub.alert_store import raise_or_update
from hub.alerts import Alert, Occurrence
from hub.catalogue import Catalogue
from tests.helpers import new_device


def unique_zone() -> str:
    return f"zone-{secrets.token_hex(4)}"


def raise_alert(database_url: str, device_id: str, zone: str | None, *, rule_id: str = "pm10-high",
                alert_type: str = "air_quality", severity: str = "warning", value: float = 200.0,
                ts: datetime | None = None) -> Alert:
    occurrence = Occurrence(
        rule_id=rule_id, alert_type=alert_type, title=f"{rule_id} on {device_id}", source="rule",
        severity=severity, device_id=device_id, zone=zone, ts=ts or datetime.now(UTC),
        metric="pm10", value=value,
    )

    async def go() -> Alert:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            changed = await raise_or_update(conn, [occurrence])
        assert len(changed) == 1
        return changed[0]

    return asyncio.run(go())


def device_with_alert(database_url: str, catalogue: Catalogue, *, zone: str | None = None,
                      severity: str = "warning") -> tuple[str, Alert]:
    zone = zone or unique_zone()
    with psycopg.connect(database_url, autocommit=True) as conn:
        device = new_device(conn, catalogue, "air_quality", zone=zone, lat=37.5663, lon=126.9779)
    return device, raise_alert(database_url, device, zone, severity=severity)
