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
from functools import partial
from typing import Protocol

from ingest.conflicts import CODE as CONFLICT
from ingest.conflicts import Conflicts, rejections
from ingest.errors import StoreError
from ingest.keep_dead import keep_dead_letters
from ingest.messages import DeadLetterRow, Incoming, Rejection
from ingest.metrics import IngestMetrics
from ingest.pipeline import BatchPlan, Decoded, Planner
from ingest.retry import Retrier
from ingest.validate import DeviceInfo, TimeWindow

log = logging.getLogger(__name__)

# How often a thread waiting on another checks whether it is asked to stop.
POLL_S = 0.2
STORE_FAILED = "store_failed"


class Broker(Protocol):
    """What the writers need of the MQTT side (MqttConsumer, or a test double)."""

    @property
    def generation(self) -> int: ...

    def ack_many(self, mids: list[int], generation: int) -> None: ...
    def publish(self, topic: str, payload: bytes) -> None: ...


class Writes(Protocol):
    """What a writer needs of the database (ingest.store.Store, or a test double)."""

    def write(self, plan: BatchPlan, *, device_state: bool) -> Conflicts: ...
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
        found: list[Conflicts] = []
        # The store_failed dead letters written, for their replies and counts.
        failed = BatchPlan()
        try:
            if not self._retrier.until_done(partial(self._write, planned.plan, found)):
                state = None
        except StoreError as exc:
            log.error("%s; storing the batch message by message", exc)
            state = self._split(planned, found, failed)
        report = self._conflicts(planned, found) if state is not None else None
        commit_time = time.time()
        # Stopping: nothing more is acknowledged, and the broker redelivers.
        if state is None or report is None or not self._turns.wait(planned.seq):
            return
        acknowledged = False
        try:
            if self._device_state(planned, state, failed):
                self._acknowledge(planned.batch)
                acknowledged = True
                for topic, payload in planned.plan.errors + report.errors + failed.errors:
                    self._broker.publish(topic, payload)
                self._count(planned.plan, report, failed,
                            sum(len(c.readings) for c in found), commit_time, planned.started)
        finally:
            if acknowledged:
                self._turns.done(planned.seq, len(planned.batch))
            else:
                self._turns.abandon()

    def _device_state(self, planned: Planned, state: BatchPlan, failed: BatchPlan) -> bool:
        """Write *state* in this batch's turn; False if asked to stop first."""
        try:
            return self._retrier.until_done(partial(self._store.write_device_state, state))
        except StoreError as exc:
            # Its readings are committed; only the status messages lose their effect, and
            # they are kept whole as dead letters.
            log.error("%s; the batch's status messages become dead letters", exc)
            status = [item for item in planned.decoded
                      if item.topic is not None and item.topic.channel == "status"]
            return not status or self._store_failed(status, planned.devices, exc, failed)

    def _write(self, plan: BatchPlan, found: list[Conflicts]) -> None:
        conflicts = self._store.write(plan, device_state=False)
        if conflicts:  # only a committed write gets here
            found.append(conflicts)

    def _conflicts(self, planned: Planned, found: list[Conflicts]) -> BatchPlan | None:
        """The ``conflict`` dead letters (written now, after the batch's commit) and
        error replies for *found*; None if asked to stop. Should ingest die before the
        dead letters are written, the broker redelivers the batch and the same
        conflicts are found again: a stored value never changes."""
        if not found:
            return BatchPlan()
        planner, decoded = self._planner, planned.decoded
        clashes = rejections(planner, decoded, planned.devices, planned.window,
                             sum(found, Conflicts()))
        report = BatchPlan()
        for index, rejection in clashes:
            planner.reject(report, decoded[index], rejection, planned.devices)
        log.info("%d messages carried a different value at a stored key", len(clashes))
        letters = [(full, planner.minimal_dead_letter(decoded[index], CONFLICT))
                   for full, (index, _) in zip(report.dead_letters, clashes, strict=True)]
        if not keep_dead_letters(letters, self._store.write_dead_letters, self._retrier,
                                 self._metrics):
            return None
        return report

    def _split(self, planned: Planned, found: list[Conflicts],
               failed: BatchPlan) -> BatchPlan | None:
        """Write the batch message by message; the device state of those stored, or
        None if asked to stop. Those refused are added to *failed*."""
        state = BatchPlan()
        for item in planned.decoded:
            plan = self._planner.plan([item], planned.devices, planned.window)
            try:
                if not self._retrier.until_done(partial(self._write, plan, found)):
                    return None
                state.online.update(plan.online)
                state.subjects.update(plan.subjects)
            except StoreError as exc:
                if not self._store_failed([item], planned.devices, exc, failed):
                    return None
        return state

    def _store_failed(self, items: list[Decoded], devices: dict[str, DeviceInfo],
                      exc: StoreError, failed: BatchPlan) -> bool:
        """Keep *items* as ``store_failed`` dead letters, redacted like every other dead
        letter (ingest/keep_dead.py: what if even they are refused), and queue their
        errors-topic replies in *failed*; False if asked to stop."""
        planner, rejection = self._planner, Rejection(STORE_FAILED, str(exc)[:500])
        report = BatchPlan()
        for item in items:
            planner.reject(report, item, rejection, devices)
        dead = [(full, planner.minimal_dead_letter(item, STORE_FAILED))
                for full, item in zip(report.dead_letters, items, strict=True)]
        if not keep_dead_letters(dead, self._store.write_dead_letters, self._retrier,
                                 self._metrics):
            return False
        failed.errors.extend(report.errors)
        failed.rejected.update(report.rejected)
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

    def _count(self, plan: BatchPlan, conflicts: BatchPlan, failed: BatchPlan,
               refused_readings: int, commit_time: float, started: float) -> None:
        m = self._metrics
        # A message with a conflict, or one the database refused, counts as rejected
        # (its code), not as stored.
        m.stored.inc(max(0, plan.accepted - len(conflicts.dead_letters)
                         - failed.rejected[STORE_FAILED]))
        m.readings.inc(len(plan.readings) - refused_readings)
        for code, n in (plan.rejected + conflicts.rejected + failed.rejected).items():
            m.rejected.labels(code).inc(n)
        observe = m.lag.observe
        for reading_time in plan.reading_times:
            observe(commit_time - reading_time)
        m.batch_seconds.observe(time.monotonic() - started)
