"""The ingest loop: drain the inbox, validate, commit, then acknowledge.

The planner (this module, in the thread that calls ``run``) drains the inbox,
decodes, looks up devices it has not cached and builds a write plan; writers
(ingest/writer.py, threads of their own) commit plans and acknowledge each batch
after its commit. Planning the next batch so overlaps the database's work on the
last ones. At most one plan waits for a free writer; the planner waits with it.

Nothing is acknowledged before its batch is committed. While the database is away
the writers retry their batches with backoff and the planner, blocked on the
hand-off, takes nothing new; the broker holds the backlog. A batch the database
refuses for another reason is split, so one bad message becomes a dead letter
instead of stopping the stream.

Asked to drain (SIGTERM), the loop takes nothing new from the broker: what it already
holds, the inbox included, is committed and acknowledged, for at most ``DRAIN_S``
seconds, and then it returns; what arrives meanwhile is left unacknowledged for the
broker to deliver again. Asked to stop, it returns at once, acknowledging nothing more.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from hub.errors import DatabaseUnavailable
from hub.registry import DEVICE_ID
from ingest.inbox import Inbox
from ingest.messages import Incoming
from ingest.metrics import IngestMetrics
from ingest.pipeline import Decoded, Planner, decode
from ingest.retry import Backoff, Retrier
from ingest.validate import DeviceInfo, TimeWindow
from ingest.writer import POLL_S, AckTurns, Broker, Planned, Writer, Writes

log = logging.getLogger(__name__)

REFRESH_EVERY_S = 10.0
MAINTAIN_EVERY_S = 3600.0
# An unknown device id is looked up again at most this often.
NEGATIVE_TTL_S = 2.0
# How long a drain may take: under the 10 s a container gets between SIGTERM and SIGKILL.
DRAIN_S = 8.0


class Lookups(Protocol):
    """What the planner needs of the database (ingest.store.Store, or a test double)."""

    def devices(self, ids: Sequence[str] | None = None) -> dict[str, DeviceInfo]: ...
    def retention(self) -> timedelta: ...
    def maintain(self) -> None: ...


class IngestLoop:
    def __init__(
        self,
        *,
        inbox: Inbox,
        broker: Broker,
        stores: Sequence[Writes],
        lookups: Lookups,
        planner: Planner,
        metrics: IngestMetrics,
        batch_size: int,
        batch_linger: float,
        stop: threading.Event,
        backoff: Backoff | None = None,
        drain: threading.Event | None = None,
    ) -> None:
        if not stores:
            raise ValueError("ingest needs at least one writer's store")
        self._inbox = inbox
        self._lookups = lookups
        self._planner = planner
        self._metrics = metrics
        self._batch_size = batch_size
        self._linger = batch_linger
        self._stop = stop
        self._drain = drain or threading.Event()
        self._drain_noted = False
        self._retrier = Retrier(metrics, stop, backoff or Backoff())
        self._handoff: queue.Queue[Planned] = queue.Queue(maxsize=1)
        self._turns = turns = AckTurns(stop)
        self._writers = [
            Writer(handoff=self._handoff, store=store, broker=broker, planner=planner,
                   metrics=metrics, retrier=self._retrier, turns=turns, stop=stop)
            for store in stores
        ]
        self._failed: BaseException | None = None
        self._seq = 0
        self._devices: dict[str, DeviceInfo] = {}
        self._missing: dict[str, float] = {}
        self._retention = timedelta(days=90)
        self._refreshed = 0.0
        self._maintained = 0.0

    def held(self) -> int:
        """Messages taken from the inbox and not yet acknowledged."""
        return self._turns.held

    # -- the planner's database work -------------------------------------------------
    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._refreshed >= REFRESH_EVERY_S:
            try:
                # A new dict, never changed after: plans in flight keep their snapshot.
                self._devices = self._lookups.devices()
                self._retention = self._lookups.retention()
                self._missing.clear()
            except DatabaseUnavailable:
                pass  # keep the snapshot; the write path reports the outage
            self._refreshed = now
        if now - self._maintained >= MAINTAIN_EVERY_S:
            try:
                self._lookups.maintain()
                self._maintained = now
            except DatabaseUnavailable:
                pass

    def _resolve(self, decoded: Sequence[Decoded]) -> None:
        now = time.monotonic()
        # Only ids the registry could hold are looked up: a gateway's payload names any
        # string it likes, and one with a NUL would make the database refuse the query.
        wanted = {
            d for item in decoded for d in item.device_ids
            if d not in self._devices and now - self._missing.get(d, -NEGATIVE_TTL_S) >= NEGATIVE_TTL_S
            and DEVICE_ID.fullmatch(d)
        }
        if not wanted:
            return
        found: dict[str, DeviceInfo] = {}

        def lookup() -> None:
            found.update(self._lookups.devices(sorted(wanted)))

        if self._retrier.until_done(lookup):
            if found:
                self._devices = {**self._devices, **found}
            for device_id in wanted - found.keys():
                self._missing[device_id] = now

    # -- the loop -------------------------------------------------------------------
    def run(self) -> None:
        """Plan in this thread, write in the writers' threads, until asked to stop;
        re-raises what made a writer fail."""
        self._metrics.db_up.set(1)
        threads = [threading.Thread(target=self._guarded, args=(w,), name=f"ingest-writer-{i}")
                   for i, w in enumerate(self._writers)]
        for thread in threads:
            thread.start()
        try:
            while not (self._stop.is_set() or self._drain.is_set()):
                self._housekeeping()
                batch = self._inbox.drain(self._batch_size, 0.5, self._linger)
                if batch:
                    self._hand_over(self._prepare(batch))
            if not self._stop.is_set():
                self._finish(time.monotonic() + DRAIN_S)
        finally:
            self._stop.set()
            for thread in threads:
                thread.join()
        if self._failed is not None:
            raise self._failed

    def _finish(self, deadline: float) -> None:
        """The drain: commit and acknowledge what the inbox held at the signal and what
        the writers hold, then return (at *deadline* at the latest)."""
        left = len(self._inbox)
        self._note_drain()
        while left > 0 and not self._stop.is_set() and time.monotonic() < deadline:
            batch = self._inbox.drain(min(left, self._batch_size), 0, 0)
            if not batch:
                break
            left -= len(batch)
            self._hand_over(self._prepare(batch), deadline)
        while self._turns.held > 0 and time.monotonic() < deadline:
            if self._stop.wait(POLL_S):
                break
        held = self._turns.held
        if held:
            log.warning("drain: %d messages still unacknowledged after %.0f s; the broker "
                        "delivers them again", held, DRAIN_S)
        else:
            log.info("drain: everything taken from the broker is committed and acknowledged")

    def _note_drain(self) -> None:
        if self._drain.is_set() and not self._drain_noted:
            self._drain_noted = True
            log.info("draining: committing and acknowledging the %d messages held, taking "
                     "no new ones", len(self._inbox) + self._turns.held)

    def _guarded(self, writer: Writer) -> None:
        try:
            writer.run()
        except BaseException as exc:
            # The planner and the other writers must not wait for this one.
            self._failed = exc
            self._stop.set()

    def _prepare(self, batch: list[Incoming]) -> Planned:
        started = time.monotonic()
        self._metrics.received.inc(len(batch))
        decoded = [decode(m) for m in batch]
        self._resolve(decoded)
        window = TimeWindow.around(datetime.now(UTC), self._retention)
        devices = self._devices
        plan = self._planner.plan(decoded, devices, window)
        self._seq += 1
        return Planned(self._seq - 1, batch, decoded, plan, window, devices, started)

    def _hand_over(self, planned: Planned, deadline: float = float("inf")) -> None:
        self._turns.hold(len(planned.batch))
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self._handoff.put(planned, timeout=POLL_S)
                return
            except queue.Full:
                # Every writer is busy (or waiting out the database); a drain begins here.
                self._note_drain()
