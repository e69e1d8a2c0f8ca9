"""`cityhub analytics`: LISTEN to ingest's notifications, evaluate the rules, raise alerts.

The service listens on ``hub_telemetry`` and ``hub_events`` (hub.notify); each notification names
a time range and devices, whose rows are read and evaluated. Notifications that
arrive together are merged into one query. Each stream's position (the newest time
evaluated) is stored in ``hub.analytics_positions``; on start — and after losing the
database — the service first evaluates everything since that position minus
``CITYHUB_ANALYTICS_CATCHUP_S``, so a restart misses nothing. Evaluating a row twice
is harmless: alerts only count occurrences newer than what they have seen.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql

from analytics import queries
from analytics.ranges import TimeRange, coalesce, parse_notice
from analytics.rules import Rule, evaluate_events, evaluate_readings
from hub.alert_store import raise_or_update
from hub.catalogue import Catalogue, load_catalogue
from hub.errors import MigrationError
from hub.notify import EVENTS, TELEMETRY
from hub.settings import Settings

log = logging.getLogger(__name__)

RULES_REFRESH_S = 30.0
# Catch-up walks history in slices so memory stays bounded after a long stop.
CATCHUP_SLICE = timedelta(minutes=5)
# How often releases whose processing period has ended are deleted (analytics/privacy).
EXPIRY_S = 300.0
# After the first notification, wait this long for others sent in the same burst.
GATHER_S = 0.005
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]


class Evaluator:
    """Evaluates ranges of rows against the rules on one connection."""

    def __init__(self, conn: AsyncConn, catalogue: Catalogue) -> None:
        self.conn = conn
        self.catalogue = catalogue
        self.rules: list[Rule] = []
        self._rules_at = 0.0

    async def refresh_rules(self, *, force: bool = False) -> None:
        if force or time.monotonic() - self._rules_at > RULES_REFRESH_S:
            self.rules = await queries.load_rules(self.conn)
            self._rules_at = time.monotonic()

    async def telemetry(self, r: TimeRange) -> int:
        await self.refresh_rules()
        metrics = sorted({rule.metric for rule in self.rules})
        rows = await queries.readings(self.conn, r, metrics)
        changed = await raise_or_update(self.conn, evaluate_readings(self.rules, rows))
        if r.end is not None:
            await queries.advance(self.conn, "telemetry", r.end)
        return len(changed)

    async def events(self, r: TimeRange) -> int:
        rows = await queries.events(self.conn, r)
        changed = await raise_or_update(self.conn, evaluate_events(self.catalogue, rows))
        if r.end is not None:
            await queries.advance(self.conn, "events", r.end)
        return len(changed)

    async def catch_up(self, margin: timedelta) -> int:
        """Evaluate both streams from their stored positions (minus *margin*) to now."""
        changed = 0
        now = await queries.now(self.conn)
        for stream in ("telemetry", "events"):
            stored = await queries.position(self.conn, stream)
            start = (stored or now) - margin
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
        return changed

    async def notices(self, notes: Sequence[psycopg.Notify]) -> int:
        changed = 0
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


async def _serve(url: str, catalogue: Catalogue, margin: timedelta, stop: asyncio.Event) -> None:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, application_name="cityhub-analytics-listen") as listen, \
            await psycopg.AsyncConnection.connect(
                url, autocommit=True, application_name="cityhub-analytics") as work:
        # LISTEN before catching up, so nothing committed meanwhile falls between the two.
        for channel in (TELEMETRY, EVENTS):
            await listen.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        evaluator = Evaluator(work, catalogue)
        await evaluator.refresh_rules(force=True)
        caught = await evaluator.catch_up(margin)
        log.info("analytics ready: %d rules; catch-up changed %d alert(s)", len(evaluator.rules), caught)
        next_expiry = 0.0
        while not stop.is_set():
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
    delay = 0.5
    while not stop.is_set():
        try:
            await _serve(url, catalogue, margin, stop)
            return
        except psycopg.errors.UndefinedTable as exc:
            raise MigrationError(
                "The alert tables are missing; run `cityhub migrate` first.") from exc
        except psycopg.OperationalError as exc:
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

