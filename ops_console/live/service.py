"""The console process's side of LISTEN/NOTIFY: one listening connection, one fan-out.

Notifications become live messages: alert changes at once (no query: the payload
is the message), readings, events and KPIs by workers that read the database and
coalesce notifications arriving while they work, so a burst of ingest batches costs
one query, never a queue of them. If the listening connection drops, the service
reconnects with backoff and replays the alert changes it missed from
``hub.alert_changes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg

from hub.notify import (
    ALERTS,
    DEVICE_STATUS,
    EVENTS,
    TELEMETRY,
    BadNotice,
    RangeNote,
    decode_alert,
    decode_range,
    decode_status,
)
from ops_console.db import Pool
from ops_console.live import messages, sources
from ops_console.live.fanout import CLOSE_SHUTDOWN, FanOut
from ops_console.live.messages import Message

log = logging.getLogger(__name__)

CHANNELS = (ALERTS, DEVICE_STATUS, TELEMETRY, EVENTS)
KPI_INTERVAL_S = 1.0


class _Range:
    """Union of notified time ranges and device sets (None = every device)."""

    def __init__(self) -> None:
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.devices: set[str] | None = set()

    def add(self, note: RangeNote) -> None:
        self.start = note.start if self.start is None else min(self.start, note.start)
        self.end = note.end if self.end is None else max(self.end, note.end)
        if note.devices is None or self.devices is None:
            self.devices = None
        else:
            self.devices.update(note.devices)


class LiveService:
    """Runs inside the app's lifespan, on the app's pool (opened and closed by the app).

    The LISTEN connection is its own, outside the pool: it stays open for good.
    """

    def __init__(self, database_url: str, pool: Pool, fanout: FanOut, *, backlog_limit: int) -> None:
        self.database_url = database_url
        self.fanout = fanout
        self.backlog_limit = backlog_limit
        self.pool = pool
        self.last_seq = 0
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._zones: dict[str, str | None] = {}
        self._telemetry: _Range | None = None
        self._events: _Range | None = None
        self._kick = {TELEMETRY: asyncio.Event(), EVENTS: asyncio.Event(), "kpis": asyncio.Event()}

    # -- lifecycle -------------------------------------------------------------
    @asynccontextmanager
    async def running(self) -> AsyncIterator[LiveService]:
        tasks = [asyncio.create_task(c, name=n) for n, c in (
            ("live-listen", self._listen_forever()), ("live-readings", self._readings_worker()),
            ("live-events", self._events_worker()), ("live-kpis", self._kpi_worker()))]
        try:
            yield self
        finally:
            self.fanout.close_all(CLOSE_SHUTDOWN, "the console is shutting down")
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def backlog(self, since_seq: int) -> list[Message]:
        async with self.pool.connection() as conn:
            return await sources.alert_backlog(conn, since_seq, self.backlog_limit + 1)

    async def current_seq(self) -> int:
        async with self.pool.connection() as conn:
            return await sources.latest_seq(conn)

    # -- listening -------------------------------------------------------------
    async def _listen_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen()
            except (psycopg.OperationalError, OSError) as exc:
                log.warning("live: lost the LISTEN connection (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                delay = 0.5

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True, application_name="cityhub-live-listen"
        ) as conn:
            for channel in CHANNELS:
                await conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
            if self.last_seq:
                # Changes committed while we were not listening.
                self._publish_alerts(await sources.alert_backlog(conn, self.last_seq, 100_000))
            else:
                self.last_seq = await sources.latest_seq(conn)
            log.info("live: listening on %s", ", ".join(CHANNELS))
            async for notify in conn.notifies():
                self._on_notify(notify.channel, notify.payload)
                # Let the clients' senders run between notifications of a burst, so a
                # burst is not mistaken for a slow client.
                await asyncio.sleep(0)

    def _on_notify(self, channel: str, payload: str) -> None:
        try:
            if channel == ALERTS:
                note = decode_alert(payload)
                self._publish_alerts([messages.alert_change(
                    note.alert_id, note.seq, note.state, note.severity)])
            elif channel == DEVICE_STATUS:
                status = decode_status(payload)
                self._on_status(status.device_id, status.online)
            elif channel in (TELEMETRY, EVENTS):
                self._on_range(channel, decode_range(payload))
        except BadNotice as exc:
            log.warning("live: ignoring a malformed %s notification (%s): %.200s", channel, exc, payload)

    def _publish_alerts(self, changes: list[Message]) -> None:
        for message in changes:
            seq = message.seq or 0
            if seq in self._seen:
                continue
            self._seen[seq] = None
            if len(self._seen) > 10_000:
                self._seen.popitem(last=False)
            self.last_seq = max(self.last_seq, seq)
            self.fanout.publish(message)
        if changes:
            self._kick["kpis"].set()

    def _on_status(self, device_id: str, online: bool) -> None:
        self._kick["kpis"].set()
        self.fanout.publish(messages.device_status(device_id, online, self._zones.get(device_id)))

    def _on_range(self, channel: str, note: RangeNote) -> None:
        attr = "_telemetry" if channel == TELEMETRY else "_events"
        pending: _Range | None = getattr(self, attr)
        if pending is None:
            pending = _Range()
            setattr(self, attr, pending)
        pending.add(note)
        self._kick[channel].set()

    # -- workers ---------------------------------------------------------------
    async def _take(self, channel: str) -> _Range:
        await self._kick[channel].wait()
        self._kick[channel].clear()
        attr = "_telemetry" if channel == TELEMETRY else "_events"
        taken: _Range = getattr(self, attr) or _Range()
        setattr(self, attr, None)
        return taken

    async def _readings_worker(self) -> None:
        while True:
            pending = await self._take(TELEMETRY)
            try:
                await self._send_readings(pending)
            except psycopg.Error as exc:
                log.warning("live: could not read the latest readings: %s", exc)

    async def _send_readings(self, pending: _Range) -> None:
        wanted = self.fanout.wanted_routes()
        zones_wanted = {r.split(":", 2)[2] for r in wanted if r.startswith("readings:zone:")}
        devices_wanted = {r.split(":", 2)[2] for r in wanted if r.startswith("readings:device:")}
        if pending.start is None or pending.end is None or not (zones_wanted or devices_wanted):
            return
        async with self.pool.connection() as conn:
            if zones_wanted:
                devices_wanted.update(await sources.devices_in_zones(conn, zones_wanted))
            ids = devices_wanted if pending.devices is None else devices_wanted & pending.devices
            if not ids:
                return
            latest = await sources.latest_readings(conn, pending.start, pending.end, ids)
            await self._learn_zones(conn, latest.keys())
        for device_id, values in latest.items():
            self.fanout.publish(messages.readings(device_id, self._zones.get(device_id), values))

    async def _events_worker(self) -> None:
        while True:
            pending = await self._take(EVENTS)
            if pending.start is None or pending.end is None:
                continue
            if not any(r == "events" or r.startswith("events:") for r in self.fanout.wanted_routes()):
                continue
            try:
                async with self.pool.connection() as conn:
                    found = await sources.recent_events(conn, pending.start, pending.end, pending.devices)
                    await self._learn_zones(conn, found.keys())
            except psycopg.Error as exc:
                log.warning("live: could not read recent events: %s", exc)
                continue
            for device_id, items in found.items():
                self.fanout.publish(messages.events(device_id, self._zones.get(device_id), items))

    async def _learn_zones(self, conn: sources.AConn, device_ids: Any) -> None:
        unknown = [d for d in device_ids if d not in self._zones]
        if unknown:
            self._zones.update(await sources.zones(conn, unknown))

    async def _kpi_worker(self) -> None:
        last: dict[str, Any] | None = None
        while True:
            await self._kick["kpis"].wait()
            self._kick["kpis"].clear()
            if "kpis" in self.fanout.wanted_routes():
                try:
                    async with self.pool.connection() as conn:
                        values = await sources.kpi_values(conn)
                except psycopg.Error as exc:
                    log.warning("live: could not compute KPIs: %s", exc)
                else:
                    if values != last:
                        self.fanout.publish(messages.kpis(values))
                        last = values
            # At most one KPI query a second, however many changes arrive.
            await asyncio.sleep(KPI_INTERVAL_S)

    async def kpis_now(self) -> Message:
        async with self.pool.connection() as conn:
            return messages.kpis(await sources.kpi_values(conn))
