"""Ingest's writers: commit planned batches, then acknowledge them, in order.

Several writers, each with its own database connection, take planned batches from
one hand-off queue, so PostgreSQL works on more than one batch at a time (the COPY
into the telemetry key's index is the costliest part of a gateway batch). Commits
may finish in any order, but acknowledgements go out in the order the batches were
planned, which is the order their PUBLISH packets arrived: a client MUST send
PUBACKs in that order [MQTT-4.6.0-2]. What is last-write-wins, the devices' online
flags and pseudonymous subjects, is written in that turn too, in a small transaction
of its own. A batch is never acknowledged before its commits, and a writer waiting for
its turn holds only committed rows, which a crash would have the broker redeliver
and the unique key ignore.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol

from ingest.errors import StoreError
from ingest.messages import DeadLetterRow, Incoming
from ingest.metrics import IngestMetrics
from ingest.pipeline import BatchPlan, Decoded, Planner
from ingest.retry import Retrier
from ingest.validate import DeviceInfo, TimeWindow

log = logging.getLogger(__name__)

# How often a thread waiting on another checks whether it is asked to stop.
POLL_S = 0.2


class Broker(Protocol):
    """What the writers need of the MQTT side (MqttConsumer, or a test double)."""

    @property
    def generation(self) -> int: ...

    def ack_many(self, mids: list[int], generation: int) -> None: ...
    def publish(self, topic: str, payload: bytes) -> None: ...


class Writes(Protocol):
    """What a writer needs of the database (ingest.store.Store, or a test double)."""

    def write(self, plan: BatchPlan, *, device_state: bool) -> None: ...
    def write_device_state(self, plan: BatchPlan) -> None: ...
    def write_dead_letters(self, rows: list[DeadLetterRow]) -> None: ...


@dataclass(frozen=True, slots=True)
class Planned:
    """A batch on its way from the planner to a writer."""

    seq: int  # planning order, from 0
    batch: list[Incoming]
    decoded: list[Decoded]
    plan: BatchPlan
    window: TimeWindow
    devices: dict[str, DeviceInfo]  # the registry snapshot it was planned with
    started: float  # time.monotonic() when the planner took the batch


class AckTurns:
    """Lets writers acknowledge in planning order, whatever order they commit in, and
    counts the messages planned but not yet acknowledged (for the backlog metric)."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._next = 0
        self._broken = False
        self._cond = threading.Condition()
        self.held = 0

    def hold(self, messages: int) -> None:
        with self._cond:
            self.held += messages

    def wait(self, seq: int) -> bool:
        """Block until it is *seq*'s turn; False if asked to stop first, or if an
        earlier batch was abandoned."""
        with self._cond:
            while self._next != seq and not self._broken:
                if self._stop.is_set():
                    return False
                self._cond.wait(POLL_S)
            return not self._broken

    def done(self, seq: int, messages: int) -> None:
        with self._cond:
            self._next = seq + 1
            self.held -= messages
            self._cond.notify_all()

    def abandon(self) -> None:
        """A batch had its turn and was not acknowledged (stopping, or a failure): no
        later batch may be acknowledged before it, so none is, in this process."""
        with self._cond:
            self._broken = True
            self._cond.notify_all()


class Writer:
    def __init__(self, *, handoff: queue.Queue[Planned], store: Writes, broker: Broker,
                 planner: Planner, metrics: IngestMetrics, retrier: Retrier, turns: AckTurns,
                 stop: threading.Event) -> None:
        self._handoff = handoff
        self._store = store
        self._broker = broker
        self._planner = planner
        self._metrics = metrics
        self._retrier = retrier
        self._turns = turns
        self._stop = stop

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                planned = self._handoff.get(timeout=POLL_S)
            except queue.Empty:
                continue
            self.commit(planned)

    def commit(self, planned: Planned) -> None:
        state: BatchPlan | None = planned.plan
        try:
            if not self._retrier.until_done(
                    partial(self._store.write, planned.plan, device_state=False)):
                state = None
        except StoreError as exc:
            log.error("%s; storing the batch message by message", exc)
            state = self._split(planned)
        commit_time = time.time()
        # Stopping: nothing more is acknowledged, and the broker redelivers.
        if state is None or not self._turns.wait(planned.seq):
            return
        acknowledged = False
        try:
            if self._device_state(planned, state):
                self._acknowledge(planned.batch)
                acknowledged = True
                for topic, payload in planned.plan.errors:
                    self._broker.publish(topic, payload)
                self._count(planned.plan, commit_time, planned.started)
        finally:
            if acknowledged:
                self._turns.done(planned.seq, len(planned.batch))
            else:
                self._turns.abandon()

    def _device_state(self, planned: Planned, state: BatchPlan) -> bool:
        """Write *state* in this batch's turn; False if asked to stop first."""
        try:
            return self._retrier.until_done(partial(self._store.write_device_state, state))
        except StoreError as exc:
            # Its readings are committed; only the status messages lose their effect, and
            # they are kept whole as dead letters.
            log.error("%s; the batch's status messages become dead letters", exc)
            status = [item for item in planned.decoded
                      if item.topic is not None and item.topic.channel == "status"]
            return not status or self._store_failed(status, exc)

    def _split(self, planned: Planned) -> BatchPlan | None:
        """Write the batch message by message; the device state of those stored, or
        None if asked to stop."""
        state = BatchPlan()
        for item in planned.decoded:
            plan = self._planner.plan([item], planned.devices, planned.window)
            try:
                if not self._retrier.until_done(
                        partial(self._store.write, plan, device_state=False)):
                    return None
                state.online.update(plan.online)
                state.subjects.update(plan.subjects)
            except StoreError as exc:
                if not self._store_failed([item], exc):
                    return None
        return state

    def _store_failed(self, items: list[Decoded], exc: StoreError) -> bool:
        """Keep *items* whole as ``store_failed`` dead letters; False if asked to stop."""
        dead = [
            DeadLetterRow(datetime.fromtimestamp(item.message.received_at, tz=UTC),
                          item.message.topic, item.topic.device_id if item.topic else None,
                          item.message.payload, "store_failed", str(exc)[:500])
            for item in items
        ]
        if not self._retrier.until_done(partial(self._store.write_dead_letters, dead)):
            return False
        self._metrics.rejected.labels("store_failed").inc(len(dead))
        return True

    def _acknowledge(self, batch: list[Incoming]) -> None:
        generation = self._broker.generation
        # A message delivered on an earlier connection is not acknowledged: its packet
        # id means nothing on this one. The broker redelivers it; the write is idempotent.
        # QoS 0 messages (packet id 0) take no acknowledgement [MQTT-2.2.1-2].
        current = [m.mid for m in batch if m.generation == generation]
        self._broker.ack_many([mid for mid in current if mid], generation)
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
