"""The ingest loop: drain the inbox, validate, commit, then acknowledge.

Nothing is acknowledged before its batch is committed. While the database is away
the loop retries the same batch with backoff and takes nothing new; the broker
holds the backlog. A batch the database refuses for another reason is split, so
one bad message becomes a dead letter instead of stopping the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol

from hub.errors import DatabaseUnavailable
from ingest.errors import StoreError
from ingest.inbox import Inbox
from ingest.messages import DeadLetterRow, Incoming
from ingest.metrics import IngestMetrics
from ingest.pipeline import BatchPlan, Decoded, Planner, decode
from ingest.store import Store
from ingest.validate import DeviceInfo, TimeWindow

log = logging.getLogger(__name__)

REFRESH_EVERY_S = 10.0
MAINTAIN_EVERY_S = 3600.0
# An unknown device id is looked up again at most this often.
NEGATIVE_TTL_S = 2.0


class Broker(Protocol):
    """What the loop needs of the MQTT side (MqttConsumer, or a test double)."""

    @property
    def generation(self) -> int: ...

    def ack_many(self, mids: list[int]) -> None: ...
    def publish(self, topic: str, payload: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 0.5
    cap: float = 10.0

    def delays(self) -> Callable[[], float]:
        state = {"next": self.first}

        def step() -> float:
            delay = state["next"]
            state["next"] = min(self.cap, delay * 2)
            return delay

        return step


class IngestLoop:
    def __init__(
        self,
        *,
        inbox: Inbox,
        broker: Broker,
        store: Store,
        planner: Planner,
        metrics: IngestMetrics,
        batch_size: int,
        batch_linger: float,
        stop: threading.Event,
        backoff: Backoff = Backoff(),
    ) -> None:
        self._inbox = inbox
        self._broker = broker
        self._store = store
        self._planner = planner
        self._metrics = metrics
        self._batch_size = batch_size
        self._linger = batch_linger
        self._stop = stop
        self._backoff = backoff
        self._devices: dict[str, DeviceInfo] = {}
        self._missing: dict[str, float] = {}
        self._retention = timedelta(days=90)
        self._refreshed = 0.0
        self._maintained = 0.0
        self._db_up = True

    # -- database, with waiting ---------------------------------------------------
    def _until_committed(self, action: Callable[[], None]) -> bool:
        """Run *action* until it succeeds; False if asked to stop first."""
        delay = self._backoff.delays()
        while True:
            try:
                action()
            except DatabaseUnavailable as exc:
                if self._db_up:
                    self._db_up = False
                    self._metrics.db_up.set(0)
                    self._metrics.db_outages.inc()
                    log.warning("%s; holding acknowledgements and retrying", exc)
                if self._stop.wait(delay()):
                    return False
                continue
            if not self._db_up:
                log.info("the database is back; resuming")
                self._db_up = True
                self._metrics.db_up.set(1)
            return True

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._refreshed >= REFRESH_EVERY_S:
            try:
                self._devices = self._store.devices()
                self._retention = self._store.retention()
                self._missing.clear()
            except DatabaseUnavailable:
                pass  # keep the snapshot; the write path reports the outage
            self._refreshed = now
        if now - self._maintained >= MAINTAIN_EVERY_S:
            try:
                self._store.maintain()
                self._maintained = now
            except DatabaseUnavailable:
                pass

    def _resolve(self, decoded: Sequence[Decoded]) -> None:
        now = time.monotonic()
        wanted = {
            d for item in decoded for d in item.device_ids
            if d not in self._devices and now - self._missing.get(d, -NEGATIVE_TTL_S) >= NEGATIVE_TTL_S
        }
        if not wanted:
            return
        found: dict[str, DeviceInfo] = {}

        def lookup() -> None:
            found.update(self._store.devices(sorted(wanted)))

        if self._until_committed(lookup):
            self._devices.update(found)
            for device_id in wanted - found.keys():
                self._missing[device_id] = now

    # -- the loop -------------------------------------------------------------------
    def run(self) -> None:
        self._metrics.db_up.set(1)
        while not self._stop.is_set():
            self._housekeeping()
            batch = self._inbox.drain(self._batch_size, 0.5, self._linger)
            if batch:
                self.process(batch)

    def process(self, batch: list[Incoming]) -> None:
        started = time.monotonic()
        self._metrics.received.inc(len(batch))
        decoded = [decode(m) for m in batch]
        self._resolve(decoded)
        window = TimeWindow.around(datetime.now(UTC), self._retention)
        plan = self._planner.plan(decoded, self._devices, window)
        try:
            committed = self._until_committed(partial(self._store.write, plan))
        except StoreError as exc:
            log.error("%s; storing the batch message by message", exc)
            committed = self._split(decoded, window)
        if not committed:
            return  # stopping: nothing acknowledged, the broker redelivers
        commit_time = time.time()
        self._acknowledge(batch)
        for topic, payload in plan.errors:
            self._broker.publish(topic, payload)
        self._count(plan, commit_time, started)

    def _split(self, decoded: list[Decoded], window: TimeWindow) -> bool:
        for item in decoded:
            plan = self._planner.plan([item], self._devices, window)
            try:
                if not self._until_committed(partial(self._store.write, plan)):
                    return False
            except StoreError as exc:
                message = item.message
                dead = DeadLetterRow(
                    datetime.fromtimestamp(message.received_at, tz=UTC), message.topic,
                    item.topic.device_id if item.topic else None, message.payload,
                    "store_failed", str(exc)[:500],
                )
                if not self._until_committed(partial(self._store.write_dead_letters, [dead])):
                    return False
                self._metrics.rejected.labels("store_failed").inc()
        return True

    def _acknowledge(self, batch: list[Incoming]) -> None:
        generation = self._broker.generation
        # A message delivered on an earlier connection is not acknowledged: its packet
        # id means nothing on this one. The broker redelivers it; the write is idempotent.
        # QoS 0 messages (packet id 0) take no acknowledgement [MQTT-2.2.1-2].
        current = [m.mid for m in batch if m.generation == generation]
        self._broker.ack_many([mid for mid in current if mid])
        stale = len(batch) - len(current)
        if stale:
            log.info("%d committed messages came from an earlier connection; not acked", stale)

    def _count(self, plan: BatchPlan, commit_time: float, started: float) -> None:
        m = self._metrics
        m.stored.inc(plan.accepted)
        m.readings.inc(len(plan.readings))
        for code, n in plan.rejected.items():
            m.rejected.labels(code).inc(n)
        observe = m.lag.observe
        for reading_time in plan.reading_times:
            observe(commit_time - reading_time)
        m.batch_seconds.observe(time.monotonic() - started)
