"""The detectors' findings as hub alerts: rule ids, alert types, agencies, titles. I/O at the end.

| finding | rule_id | alert_type | severity | agency |
|---|---|---|---|---|
| sensor fault | ``sensor-fault`` | ``sensor_fault`` | warning | ``maintenance`` |
| meter fault | ``meter-anomaly`` | ``meter_anomaly`` | warning | ``utility`` |
| suspected theft | ``suspected-theft`` | ``suspected_theft`` | warning | ``utility`` |
| welfare check | ``welfare-check`` | ``welfare_check`` | warning | ``<zone>-welfare`` or ``<zone>-office`` |

The model version that raised an alert goes into its ``rule_version`` (migration 0016's trigger),
so an operator can tell a trained model's alert from an untrained default's (no version).
Titles name the device's problem, never a household: meters are device ids only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from analytics.models.meters import MeterFinding
from analytics.models.sensor_fault import Finding
from hub.alert_store import act, raise_or_update
from hub.alerts import Action, Occurrence

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
ACTOR = "analytics"
SENSOR_FAULT = "sensor-fault"
METER_RULES = {"meter_fault": ("meter-anomaly", "meter_anomaly", "Meter anomaly"),
               "theft": ("suspected-theft", "suspected_theft", "Suspected electricity theft"),
               "welfare": ("welfare-check", "welfare_check", "Welfare check")}


def fault_occurrence(f: Finding) -> Occurrence:
    return Occurrence(SENSOR_FAULT, "sensor_fault", f"Sensor fault suspected: {f.description}", "rule",
                      "warning", f.device_id, f.zone, f.ts, f.metric, f.value, f.neighbours)


def meter_occurrence(f: MeterFinding) -> Occurrence:
    rule_id, alert_type, title = METER_RULES[f.kind]
    if f.consent is not None:
        title = f"{title}: {f.detail} (consent on file since {f.consent.given_at.date().isoformat()})"
    else:
        title = f"{title}: {f.detail}"
    return Occurrence(rule_id, alert_type, title, "rule", "warning", f.device_id, f.zone, f.ts,
                      "power_kw", f.value)


def meter_agency(f: MeterFinding, known: frozenset[str]) -> str | None:
    if f.kind != "welfare":
        return "utility" if "utility" in known else None
    for candidate in (f"{f.zone}-welfare", f"{f.zone}-office"):
        if f.zone and candidate in known:
            return candidate
    return None


async def _session(conn: AsyncConn, version: int | None, agency: str | None) -> None:
    await conn.execute("SELECT set_config('cityhub.rule_version', %s, false), "
                       "set_config('cityhub.rule_agency', %s, false)",
                       ("" if version is None else str(version), agency or ""))


async def raise_findings(conn: AsyncConn, occurrences: Sequence[tuple[Occurrence, str | None]],
                         version: int | None) -> list[int]:
    """Raise or update an alert per occurrence (with its suggested agency); the ids of the alerts
    opened now (count 1), so a caller can add what the alert must show."""
    opened: list[int] = []
    try:
        for occurrence, agency in occurrences:
            await _session(conn, version, agency)
            for alert in await raise_or_update(conn, [occurrence]):
                if alert.count == 1:
                    opened.append(alert.id)
    finally:
        await _session(conn, None, None)
    return opened


async def note(conn: AsyncConn, alert_id: int, text: str) -> None:
    await act(conn, alert_id, Action("note", ACTOR, text=text))
