"""`cityhub analytics`: LISTEN to ingest's notifications, evaluate the rules, raise alerts.

The service listens on ``hub_telemetry`` and ``hub_events`` (hub.notify); each notification names
a time range and devices, whose rows are read and fed, in time order, to the rules' engine
(analytics/engine.py — the same one the backtest uses), which keeps each rule's windows and
levels. ``hub_rules`` (hub.notify, sent by analytics/store.py) says a rule changed: the
rules are reloaded at once.
Notifications that arrive together are merged into one query. Each stream's position (the
newest time evaluated) is stored in ``hub.analytics_positions``; on start — and after losing
the database — the service first evaluates everything since that position minus
``CITYHUB_ANALYTICS_CATCHUP_S`` (or the longest rule window plus duration, if longer, so the
rules' state is rebuilt), so a restart misses nothing. Evaluating a row twice
is harmless: alerts only count occurrences newer than what they have seen.
Its Prometheus metrics (analytics/metrics.py) are served on ``CITYHUB_ANALYTICS_METRICS_PORT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from analytics import queries
from analytics.crowd_store import zone_areas
from analytics.engine import Engine, VersionedRule
from analytics.forecast.live import Forecaster
from analytics.metrics import AnalyticsMetrics
from analytics.models.live import Detectors
from analytics.raising import apply, raise_plain
from analytics.ranges import TimeRange, coalesce, parse_notice
from analytics.rules import ReadingRow, evaluate_events
from hub.catalogue import Catalogue, load_catalogue
from hub.errors import MigrationError
from hub.notify import EVENTS, RULES, TELEMETRY
from hub.settings import Settings

log = logging.getLogger(__name__)

RULES_REFRESH_S = 30.0
# Catch-up walks history in slices so memory stays bounded after a long stop.
CATCHUP_SLICE = timedelta(minutes=5)
# How often releases whose processing period has ended are deleted (analytics/privacy).
EXPIRY_S = 300.0
# How often absence rules are checked against the clock.
TICK_S = 5.0
# After the first notification, wait this long for others sent in the same burst.
GATHER_S = 0.005
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]


class Evaluator:
    """Evaluates ranges of rows against the rules on one connection, keeping the rules' state."""

    def __init__(self, conn: AsyncConn, catalogue: Catalogue,
                 metrics: AnalyticsMetrics | None = None) -> None:
        self.conn = conn
        self.catalogue = catalogue
        self.metrics = metrics if metrics is not None else AnalyticsMetrics()
        self.engine = Engine([], {name: float(k.interval_s) for name, k in catalogue.kinds.items()})
        self.agencies: frozenset[str] = frozenset()
        self._rules_at = 0.0
        self._started = False
        self.forecaster = Forecaster(conn)
        # Sensor faults screen readings before the rules; meters are scanned on the clock.
        self.detectors = Detectors(conn)

    @property
    def rules(self) -> list[VersionedRule]:
        return list(self.engine.rules.values())

    async def refresh_rules(self, *, force: bool = False) -> int:
        """Reload the rules; a rule that is new or changed is brought up to date from history
        (its window and durations), so an edit does not wait hours to take effect."""
        if not force and time.monotonic() - self._rules_at <= RULES_REFRESH_S:
            return 0
        self._rules_at = time.monotonic()
        self.agencies = await queries.agency_ids(self.conn)
        self.engine.areas = await zone_areas(self.conn)  # crowd density (analytics/crowd.py)
        fresh = self.engine.replace_rules(await queries.load_rules(self.conn))
        self.metrics.rules.set(len(self.engine.rules))
        if not self._started or not fresh:
            return 0
        log.info("rules changed: %s", ", ".join(sorted(fresh)))
        now = await queries.now(self.conn)
        start = now - timedelta(seconds=self.engine.lookback_s(fresh))
        read = await queries.readings(self.conn, TimeRange(start, None, None), self.engine.metrics(fresh))
        # Screened as live readings are: a station flagged now feeds the edited rule nothing.
        rows = await self._screened(read)
        return await apply(self.conn, self.engine.feed(rows, only=fresh), self.agencies, self.metrics)

    async def _screened(self, read: list[ReadingRow]) -> list[ReadingRow]:
        """The rows the rules may see: a station suspected faulty feeds no rule."""
        try:
            return await self.detectors.screen(read)
        except psycopg.Error:
            raise
        except Exception:  # a model's bug must not stop the rules: they see every row
            self.metrics.model_failed("sensor_fault")
            log.exception("sensor-fault screening failed; rows evaluated unscreened")
            return read

    async def telemetry(self, r: TimeRange) -> int:
        await self.refresh_rules()
        read = await queries.readings(self.conn, r, self.engine.metrics())
        rows = await self._screened(read)
        changed = await apply(self.conn, self.engine.feed(rows), self.agencies, self.metrics)
        self.metrics.withheld.inc(len(read) - len(rows))
        self.metrics.readings_evaluated(len(read), max((row.ts for row in read), default=None))
        if r.end is not None:
            await queries.advance(self.conn, "telemetry", r.end)
        return changed

    async def events(self, r: TimeRange) -> int:
        await self.refresh_rules()
        rows = await queries.events(self.conn, r)
        changed = await apply(self.conn, self.engine.events(rows), self.agencies, self.metrics)
        unmapped = [e for e in rows if not self.engine.mapped(e)]
        changed += await raise_plain(self.conn, evaluate_events(self.catalogue, unmapped), self.metrics)
        self.metrics.events.inc(len(rows))
        if r.end is not None:
            await queries.advance(self.conn, "events", r.end)
        return changed

    async def tick(self) -> int:
        """Absence rules against the clock; the PM2.5 forecast once an hour (analytics/forecast)."""
        changed = await apply(self.conn, self.engine.tick(datetime.now(UTC)), self.agencies, self.metrics)
        specs = [r.spec for r in self.rules]
        now = await queries.now(self.conn)
        changed += await self._guarded("meter_scan", self.detectors.tick(now))
        changed += await self._guarded("forecast",
                                       self.forecaster.step(datetime.now(UTC), specs, self.agencies))
        self.metrics.ticked()
        return changed

    async def _guarded(self, name: str, work: Awaitable[int]) -> int:
        """What one model's periodic *work* returns; its bug is logged and counted, and the rules
        and the other model go on."""
        try:
            return await work
        except psycopg.Error:
            raise  # the database's errors are the service loop's (reconnect, catch up)
        except Exception:  # one model's bug must not stop the rules
            self.metrics.model_failed(name)
            log.exception("%s failed; the rules go on", name.replace("_", " "))
            return 0

    async def catch_up(self, margin: timedelta) -> int:
        """Evaluate both streams from their stored positions (minus *margin*) to now."""
        changed = 0
        now = await queries.now(self.conn)
        for stream in ("telemetry", "events"):
            stored = await queries.position(self.conn, stream)
            # Telemetry from far enough back for the rules' windows and durations to fill.
            history = timedelta(seconds=self.engine.lookback_s()) if stream == "telemetry" else margin
            start = (stored or now) - max(margin, history)
            while True:
                end = start + CATCHUP_SLICE
                last = end >= now
                # The last slice is open-ended: rows stamped slightly in the future count too.
                r = TimeRange(start, None if last else end, None)
                changed += await (self.telemetry(r) if stream == "telemetry" else self.events(r))
                if last:
                    await queries.advance(self.conn, stream, now)
                    break
                start = end
        self._started = True
        return changed

    async def notices(self, notes: Sequence[psycopg.Notify]) -> int:
        changed = 0
        if any(n.channel == RULES for n in notes):
            changed += await self.refresh_rules(force=True)
        for channel in (TELEMETRY, EVENTS):
            parsed: list[TimeRange] = []
            for n in notes:
                if n.channel != channel:
                    continue
                r = parse_notice(n.payload)
                if r is None:
                    log.warning("ignoring a %s notification we cannot read: %.200s", channel, n.payload)
                else:
                    parsed.append(r)
            merged = coalesce(parsed)
            if merged is None:
                continue
            changed += await (self.telemetry(merged) if channel == TELEMETRY else self.events(merged))
        return changed


async def _serve(url: str, catalogue: Catalogue, margin: timedelta, stop: asyncio.Event,
                 metrics: AnalyticsMetrics) -> None:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, application_name="cityhub-analytics-listen") as listen, \
            await psycopg.AsyncConnection.connect(
                url, autocommit=True, application_name="cityhub-analytics") as work:
        # LISTEN before catching up, so nothing committed meanwhile falls between the two.
        for channel in (TELEMETRY, EVENTS, RULES):
            await listen.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        evaluator = Evaluator(work, catalogue, metrics)
        await evaluator.refresh_rules(force=True)
        caught = await evaluator.catch_up(margin)
        metrics.ready.set(1)
        log.info("analytics ready: %d rules; catch-up changed %d alert(s)", len(evaluator.rules), caught)
        next_expiry = 0.0
        next_tick = time.monotonic() + TICK_S
        while not stop.is_set():
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + TICK_S
                await _unless_stopped(evaluator.tick(), stop)
            if time.monotonic() >= next_expiry:
                next_expiry = time.monotonic() + EXPIRY_S
                await _expire_releases(url)
            notes = [n async for n in listen.notifies(timeout=0.5, stop_after=1)]
            if not notes:
                continue
            notes += [n async for n in listen.notifies(timeout=GATHER_S)]
            started = time.monotonic()
            changed = await evaluator.notices(notes)
            if changed:
                log.info("%d notification(s) → %d alert change(s) in %.0f ms", len(notes), changed,
                         1000 * (time.monotonic() - started))


async def _unless_stopped(work: Coroutine[Any, Any, int], stop: asyncio.Event) -> None:
    """Run the clock-driven *work*; a stop abandons it (a meter scan or a forecast can take
    seconds, and the next start does it again), so SIGTERM is not kept waiting."""
    task = asyncio.create_task(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        task.result()  # the database's errors go on to the reconnecting loop
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.info("stopping: the clock-driven work in progress was left for the next start")


async def _expire_releases(url: str) -> None:
    """Delete the anonymised releases whose processing period has ended."""
    from analytics.privacy.release import expire_url  # pandas and the methods: loaded here only

    try:
        deleted = await asyncio.to_thread(expire_url, url)
    except psycopg.errors.InsufficientPrivilege:
        log.warning("cannot delete expired releases: the analytics login may not drop them")
        return
    if deleted:
        log.info("deleted %d release(s) whose processing period has ended", deleted)


async def run_analytics_async(settings: Settings, stop: asyncio.Event) -> None:
    url = settings.require_database()
    catalogue = load_catalogue(settings.kinds_file)
    margin = timedelta(seconds=settings.analytics_catchup_s)
    metrics = AnalyticsMetrics()
    host = settings.analytics_metrics_host
    port = metrics.serve(host, settings.analytics_metrics_port)
    if port is not None:
        log.info("analytics metrics on http://%s:%d/metrics", host, port)
    try:
        await _run(url, catalogue, margin, stop, metrics)
    finally:
        metrics.close()


async def _run(url: str, catalogue: Catalogue, margin: timedelta, stop: asyncio.Event,
               metrics: AnalyticsMetrics) -> None:
    delay = 0.5
    while not stop.is_set():
        try:
            await _serve(url, catalogue, margin, stop, metrics)
            return
        except psycopg.errors.UndefinedTable as exc:
            raise MigrationError(
                "The alert tables are missing; run `cityhub migrate` first.") from exc
        except psycopg.OperationalError as exc:
            metrics.ready.set(0)
            metrics.db_outages.inc()
            log.warning("lost the database (%s); catching up again in %.1f s",
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                        delay)
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            delay = min(10.0, delay * 2)


def run_analytics(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_analytics_async(settings, stop)
        log.info("analytics stopped")

    asyncio.run(main())

