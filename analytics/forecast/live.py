"""The analytics service's forecast step: once per completed hour, forecast every station.

:meth:`Forecaster.step` is called by the service on every telemetry batch and clock tick; it
does nothing until an hour has completed (plus :data:`GRACE` for late readings) since its last
run. Then it reads the last day of hourly means, forecasts 1 … 6 hours ahead with the newest
``pm25-forecast`` model of the store, writes the run to ``hub.forecasts``, and raises or lifts
the pre-alerts (:mod:`analytics.forecast.prealert`). A model retrained meanwhile is picked up
at the next run (the store's versions are polled). Without a trained model it logs once and
waits for one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from analytics.engine import Lifted
from analytics.forecast import ForecastError, db
from analytics.forecast.features import FEATURES, HISTORY_H, hourly_frame
from analytics.forecast.model import Forecast, ForecastModel, forecast
from analytics.forecast.prealert import RULE_ID, Advisory, advisory_of, crossings, occurrences
from analytics.models.errors import ModelError
from analytics.models.store import alatest_model, alatest_versions
from analytics.raising import agency_for, apply
from analytics.spec import DISTRICT, RuleSpec
from hub.alert_store import raise_or_update
from hub.alerts import Occurrence

log = logging.getLogger(__name__)
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
MODEL_NAME = "pm25-forecast"
# Readings of the hour just ended may still be on their way (ingest batches, device clocks).
GRACE = timedelta(minutes=2)
VERSION_POLL_S = 15.0
RETENTION = timedelta(days=30)
HOUR = timedelta(hours=1)


def last_complete_hour(now: datetime, grace: timedelta = GRACE) -> datetime:
    """The start of the newest hour that ended at least *grace* ago."""
    moment = now - grace
    return moment.replace(minute=0, second=0, microsecond=0) - HOUR


class Forecaster:
    def __init__(self, conn: AsyncConn, *, grace: timedelta = GRACE) -> None:
        self.conn = conn
        self.grace = grace
        self.model: ForecastModel | None = None
        self.version = 0
        self._seen = 0
        self._polled = -VERSION_POLL_S
        self._done: datetime | None = None  # the last hour forecast from
        self._warned = False

    async def _refresh_model(self) -> None:
        if time.monotonic() - self._polled < VERSION_POLL_S:
            return
        self._polled = time.monotonic()
        newest = (await alatest_versions(self.conn)).get(MODEL_NAME, 0)
        if newest == self._seen:
            return
        self._seen = newest  # a version that cannot be loaded is not tried again
        try:
            loaded = await alatest_model(self.conn, MODEL_NAME)
        except ModelError as exc:
            log.warning("keeping forecast model version %d: %s", self.version, exc)
            return
        if loaded is None or not isinstance(loaded.model, ForecastModel) or loaded.model.features != FEATURES:
            log.warning("the stored %s version %d is not a forecast model of these features; ignored "
                        "(retrain it with `cityhub analytics train --model %s`)",
                        MODEL_NAME, newest, MODEL_NAME)
            return
        self.model, self.version = loaded.model, loaded.info.version
        log.info("forecast model %s version %d loaded", MODEL_NAME, self.version)

    async def step(self, now: datetime, rules: Sequence[RuleSpec], agencies: frozenset[str]) -> int:
        """Forecast from the last complete hour if not done yet; returns alert changes."""
        hour = last_complete_hour(now, self.grace)
        if self._done is not None and hour <= self._done:
            return 0
        await self._refresh_model()
        if self.model is None:
            if not self._warned:
                log.info("no %s model yet: no forecasts until `cityhub analytics train` stores one",
                         MODEL_NAME)
                self._warned = True
            return 0
        self._done = hour
        try:
            return await self.run(hour, rules, agencies)
        except (ValueError, ForecastError) as exc:
            # A model the data does not fit must not stop the rules: skip this hour, say why.
            log.warning("no forecast from %s: %s", hour.isoformat(), exc)
            return 0

    async def run(self, hour: datetime, rules: Sequence[RuleSpec], agencies: frozenset[str]) -> int:
        """Forecast from *hour* (its bucket start), store the run, raise or lift pre-alerts."""
        assert self.model is not None
        start = hour - timedelta(hours=HISTORY_H + 3)
        rows = await db.ahourly_means(self.conn, start, hour + HOUR, self.model.metric)
        zones = await db.astations(self.conn)
        model = self.model

        def predict() -> list[Forecast]:
            return forecast(model, hourly_frame(rows, start=start, end=hour), zones)

        forecasts = await asyncio.to_thread(predict)  # pandas and the model: off the event loop
        await db.store(self.conn, forecasts, self.model.metric, self.version)
        await db.prune(self.conn, hour - RETENTION)
        log.info("forecast from %s: %d station(s), model version %d", hour.isoformat(),
                 len({f.station for f in forecasts}), self.version)
        advisory = advisory_of(rules)
        if advisory is None:
            # The advisory rule was disabled: its pre-alerts go with it.
            stations = sorted({f.station for f in forecasts})
            lifted = [Lifted(RULE_ID, station, hour + HOUR, "rule disabled") for station in stations]
            return await apply(self.conn, lifted, agencies)
        return await self._alerts(forecasts, hour + HOUR, zones, advisory, agencies)

    async def _alerts(self, forecasts: Sequence[Forecast], made_at: datetime, zones: dict[str, str | None],
                      advisory: Advisory, agencies: frozenset[str]) -> int:
        found, calm = crossings(forecasts, advisory)
        changed = 0
        by_agency: dict[str | None, list[Occurrence]] = {}
        for o in occurrences(found, made_at, zones, advisory):
            by_agency.setdefault(agency_for(DISTRICT, o.zone, agencies), []).append(o)
        for agency, group in by_agency.items():
            # A pre-alert stands for no rule version; it suggests the district office.
            await self.conn.execute("SELECT set_config('cityhub.rule_version', '', false), "
                                    "set_config('cityhub.rule_agency', %s, false)", (agency or "",))
            try:
                changed += len(await raise_or_update(self.conn, group))
            finally:
                await self.conn.execute("SELECT set_config('cityhub.rule_agency', '', false)")
        lifted = [Lifted(RULE_ID, station, made_at, advisory.name) for station in calm]
        changed += await apply(self.conn, lifted, agencies)
        return changed
