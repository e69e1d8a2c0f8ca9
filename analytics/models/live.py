"""The detectors inside the live analytics service (analytics/service.py calls two hooks).

* :meth:`Detectors.screen` - every batch of readings passes the sensor-fault detector before
  the rules' engine: readings of a station suspected faulty are withheld from the pollution
  rules, and its "sensor fault suspected" alert is raised.
* :meth:`Detectors.tick` - on the service's clock: polls the model store every
  ``MODEL_POLL_S`` and swaps in a newer version (so ``cityhub analytics train`` never stops
  the service), refreshes the stations' places, and every ``METER_SCAN_S`` scans the meters'
  hourly profiles for faults, theft and welfare checks.

Without a trained model the detectors run on their untrained defaults (docs/analytics.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from analytics.models import meters as meter_logic
from analytics.models.alerts import (
    fault_occurrence,
    meter_agency,
    meter_occurrence,
    note,
    raise_findings,
)
from analytics.models.meters import Consent, MeterParams
from analytics.models.meters_db import hourly_query
from analytics.models.meters_train import NAME as METER_MODEL
from analytics.models.meters_train import MeterModel
from analytics.models.neighbours import Site
from analytics.models.sensor_fault import FaultDetector, SensorFaultModel
from analytics.models.sensor_fault_train import NAME as FAULT_MODEL
from analytics.models.store import alatest_model, alatest_versions
from analytics.rules import ReadingRow

log = logging.getLogger(__name__)
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
MODEL_POLL_S = 15.0
SITES_S = 60.0
METER_SCAN_S = 60.0


async def load_sites(conn: AsyncConn) -> dict[str, Site]:
    cur = await conn.execute("SELECT id, zone, lat, lon FROM hub.devices "
                             "WHERE kind = 'air_quality' AND status = 'active'")
    return {str(r[0]): Site(str(r[0]), r[1], r[2], r[3]) for r in await cur.fetchall()}


async def load_consents(conn: AsyncConn) -> dict[str, Consent]:
    cur = await conn.execute(
        "SELECT device_id, consent_given_at, consent_given_by, consent_basis FROM hub.welfare_consents "
        "WHERE vulnerable AND withdrawn_at IS NULL")
    return {str(r[0]): Consent(str(r[0]), r[1], str(r[2]), str(r[3])) for r in await cur.fetchall()}


async def hourly(conn: AsyncConn, since: datetime) -> list[tuple[Any, ...]]:
    """Meters' hourly profile rows since *since* (columns of meters.HOURLY_COLUMNS)."""
    query, params = hourly_query(since)
    cur = await conn.execute(query, params)
    return list(await cur.fetchall())


async def agency_ids(conn: AsyncConn) -> frozenset[str]:
    cur = await conn.execute("SELECT id FROM hub.agencies WHERE enabled")
    return frozenset(str(r[0]) for r in await cur.fetchall())


class Detectors:
    def __init__(self, conn: AsyncConn, meter_params: MeterParams | None = None) -> None:
        self.conn = conn
        self.faults = FaultDetector({})
        self.meter_params = meter_params or MeterParams()
        self.meter_model: MeterModel | None = None
        self.versions: dict[str, int] = {}
        self._next = {"models": 0.0, "sites": 0.0, "meters": 0.0}

    def _due(self, what: str, every: float) -> bool:
        if time.monotonic() < self._next[what]:
            return False
        self._next[what] = time.monotonic() + every
        return True

    async def refresh(self, *, force: bool = False) -> None:
        if self._due("sites", SITES_S) or force:
            self.faults.set_sites(await load_sites(self.conn))
        if self._due("models", MODEL_POLL_S) or force:
            await self._reload_models()

    async def _reload_models(self) -> None:
        latest = await alatest_versions(self.conn)
        for name in (FAULT_MODEL, METER_MODEL):
            if name not in latest or latest[name] == self.versions.get(name):
                continue
            loaded = await alatest_model(self.conn, name)
            if loaded is None:
                continue
            model = loaded.model
            if name == FAULT_MODEL and isinstance(model, SensorFaultModel):
                self.faults.set_model(model)
            elif name == METER_MODEL and isinstance(model, MeterModel):
                self.meter_model = model
            else:
                log.warning("stored model %s version %d is not what this service expects; ignored",
                            name, loaded.info.version)
                continue
            self.versions[name] = loaded.info.version
            log.info("using model %s version %d", name, loaded.info.version)

    async def screen(self, rows: Sequence[ReadingRow]) -> list[ReadingRow]:
        """The rows the pollution rules may see; raises sensor-fault alerts on the way."""
        await self.refresh()
        screened = self.faults.feed(rows)
        if screened.findings:
            known = await agency_ids(self.conn)
            agency = "maintenance" if "maintenance" in known else None
            await raise_findings(self.conn, [(fault_occurrence(f), agency) for f in screened.findings],
                                 self.versions.get(FAULT_MODEL))
            for f in screened.findings:
                log.info("sensor fault suspected at %s: %s (z %.1f)", f.device_id, f.fault, f.z)
        return screened.kept

    async def tick(self, now: datetime) -> int:
        """Periodic work; returns how many alerts were opened."""
        await self.refresh()
        if not self._due("meters", METER_SCAN_S):
            return 0
        return await self.scan_meters(now)

    async def scan_meters(self, now: datetime) -> int:
        p = self.meter_params
        model = self.meter_model
        # Untrained, the theft baseline is read from the last days of history instead.
        hours = max(p.welfare_hours, p.theft_hours) + 3 if model else p.baseline_days * 24 + 24
        rows = await hourly(self.conn, now - timedelta(hours=hours))
        consents = await load_consents(self.conn)
        baselines = model.baselines if model else None

        def scan() -> list[meter_logic.MeterFinding]:
            return meter_logic.scan(meter_logic.frame(rows), now, consents, p, baselines)

        # pandas over every meter takes seconds for a city: in a thread, so the event loop
        # stays free for what is due meanwhile (a stop, the metrics).
        findings = await asyncio.to_thread(scan)
        if not findings:
            return 0
        known = await agency_ids(self.conn)
        opened = 0
        for f in findings:
            ids = await raise_findings(self.conn, [(meter_occurrence(f), meter_agency(f, known))],
                                       self.versions.get(METER_MODEL))
            for alert_id in ids:
                opened += 1
                if f.consent is not None:
                    await note(self.conn, alert_id, f.consent.text)
            if ids:
                log.info("%s at meter %s: %s", f.kind, f.device_id, f.detail)
        return opened
