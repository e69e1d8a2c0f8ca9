"""The planner and writers of IngestLoop, with the database and broker replaced by
doubles: acknowledgements follow commits and go out in arrival order even when a
later batch commits first, and so do device status changes; an outage is waited
out; stale deliveries are not acknowledged; stopping never hangs; a failing writer
stops the loop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import pytest

from hub.errors import DatabaseUnavailable
from ingest.conflicts import Conflicts
from ingest.errors import StoreError, WriteConflict
from ingest.inbox import Inbox
from ingest.messages import DeadLetterRow
from ingest.metrics import IngestMetrics
from ingest.pipeline import BatchPlan
from ingest.retry import Backoff
from ingest.service import IngestLoop
from ingest.validate import DeviceInfo
from tests.ingest.test_units import DEVICES, MS, message, planner
from tests.waiting import wait_for


class FakeBroker:
    def __init__(self) -> None:
        self.generation = 1
        self.acks: list[list[int]] = []
        self._lock = threading.Lock()

    def ack_many(self, mids: list[int], generation: int) -> None:
        assert generation == self.generation
        with self._lock:
            self.acks.append(list(mids))

    def publish(self, topic: str, payload: bytes) -> None:
        pass

    def acked(self) -> list[int]:
        with self._lock:
            return [m for batch in self.acks for m in batch]


class FakeStore:
    """Records the readings of each committed plan and the device states written (into
    *states*, which stores may share); *before_commit* may block or raise."""

    def __init__(self, before_commit: Callable[[BatchPlan], None] = lambda _p: None,
                 states: list[dict[str, bool]] | None = None,
                 before_state: Callable[[BatchPlan], None] = lambda _p: None) -> None:
        self.committed: list[list[float]] = []
        self.states = [] if states is None else states
        self.dead: list[DeadLetterRow] = []
        self._before = before_commit
        self._before_state = before_state

    def write(self, plan: BatchPlan, *, device_state: bool) -> Conflicts:
        assert not device_state, "writers leave device state for their turn"
        self._before(plan)
        self.committed.append([r[3] for r in plan.readings])
        return Conflicts()

    def write_device_state(self, plan: BatchPlan) -> None:
        self._before_state(plan)
        if plan.online:
            self.states.append(dict(plan.online))

    def write_dead_letters(self, rows: list[DeadLetterRow]) -> None:
        self.dead.extend(rows)

    def devices(self, ids: Sequence[str] | None = None) -> dict[str, DeviceInfo]:
        return dict(DEVICES)

    def retention(self) -> timedelta:
        return timedelta(days=3650)

    def maintain(self) -> None:
        pass


def _fill(inbox: Inbox, mids: range, generation: int = 1) -> None:
    for mid in mids:
        m = message("cityhub/v1/aq-1/telemetry", {"ts": MS + mid, "pm10": float(mid)}, mid)
        inbox.put(replace(m, generation=generation))


def _hold_batch_with(value: float) -> tuple[Callable[[BatchPlan], None], threading.Event,
                                             threading.Event]:
    """A before_commit hook that blocks the batch holding reading *value* until released."""
    seen, release = threading.Event(), threading.Event()

    def hook(plan: BatchPlan) -> None:
        if any(r[3] == value for r in plan.readings):
            seen.set()
            assert release.wait(10)

    return hook, seen, release


@contextmanager
def running(stores: Sequence[FakeStore], broker: FakeBroker, inbox: Inbox, *,
            batch_size: int = 2, stop: threading.Event | None = None,
            ) -> Iterator[tuple[IngestLoop, IngestMetrics, list[BaseException]]]:
    """The loop in a thread, stopped on the way out; what run() raised lands in the list."""
    stop = stop or threading.Event()
    metrics = IngestMetrics(backlog=lambda: 0.0)
    loop = IngestLoop(
        inbox=inbox, broker=broker, stores=stores, lookups=FakeStore(), planner=planner(),
        metrics=metrics, batch_size=batch_size, batch_linger=0.0,
        stop=stop, backoff=Backoff(first=0.01, cap=0.02),
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loop.run()
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield loop, metrics, errors
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the loop did not stop"


def test_a_later_batch_that_commits_first_waits_for_the_earlier_ones_ack() -> None:
    hold, first_batch_seen, release_first = _hold_batch_with(1.0)
    # Whichever writer takes the first batch is held; the other commits the later ones.
    stores = [FakeStore(hold), FakeStore(hold)]
    broker, inbox = FakeBroker(), Inbox(100)
    _fill(inbox, range(1, 3))
    with running(stores, broker, inbox) as (loop, _metrics, errors):
        assert first_batch_seen.wait(10)
        _fill(inbox, range(3, 7))
        wait_for(lambda: sum(len(s.committed) for s in stores) >= 1, what="a later commit")
        wait_for(lambda: loop.held() == 6, what="all six messages taken")
        # None of the later batches is acknowledged before the first.
        assert broker.acked() == []
        release_first.set()
        wait_for(lambda: len(broker.acked()) == 6, what="all acknowledgements")
        assert broker.acked() == [1, 2, 3, 4, 5, 6]
        assert loop.held() == 0
        assert errors == []


def test_device_status_changes_are_written_in_arrival_order() -> None:
    hold, first_seen, release = _hold_batch_with(1.0)
    states: list[dict[str, bool]] = []
    stores = [FakeStore(hold, states), FakeStore(hold, states)]
    broker, inbox = FakeBroker(), Inbox(100)
    inbox.put(message("cityhub/v1/aq-1/telemetry", {"ts": MS + 1, "pm10": 1.0}, 1))
    inbox.put(message("cityhub/v1/aq-1/status", b"offline", 2))
    with running(stores, broker, inbox) as (_loop, _metrics, errors):
        assert first_seen.wait(10)
        inbox.put(message("cityhub/v1/aq-1/status", b"online", 3))
        wait_for(lambda: sum(len(s.committed) for s in stores) >= 1, what="the later commit")
        assert states == []
        release.set()
        wait_for(lambda: len(broker.acked()) == 3, what="all acknowledgements")
        assert states == [{"aq-1": False}, {"aq-1": True}]
        assert errors == []


def test_stopping_while_a_committed_batch_waits_behind_an_outage_acks_nothing() -> None:
    first_seen = threading.Event()

    def first_batch_never_commits(plan: BatchPlan) -> None:
        if any(r[3] == 1.0 for r in plan.readings):
            first_seen.set()
            raise DatabaseUnavailable("database unavailable: test")

    stores = [FakeStore(first_batch_never_commits), FakeStore(first_batch_never_commits)]
    broker, inbox = FakeBroker(), Inbox(100)
    _fill(inbox, range(1, 3))
    stop_now = threading.Event()
    with running(stores, broker, inbox, stop=stop_now) as (loop, _metrics, errors):
        assert first_seen.wait(10)
        _fill(inbox, range(3, 5))
        wait_for(lambda: sum(len(s.committed) for s in stores) >= 1, what="the later commit")
        wait_for(lambda: loop.held() == 4, what="both batches in the writers")
        stop_now.set()
    # running() has joined the loop: nothing hung, and the committed later batch was
    # not acknowledged ahead of the earlier one.
    assert broker.acked() == []
    assert errors == []


def test_a_batch_whose_status_never_commits_keeps_later_batches_unacknowledged() -> None:
    in_outage = threading.Event()

    def status_outage(_plan: BatchPlan) -> None:
        in_outage.set()
        raise DatabaseUnavailable("database unavailable: test")

    stores = [FakeStore(before_state=status_outage), FakeStore(before_state=status_outage)]
    broker, inbox = FakeBroker(), Inbox(100)
    inbox.put(message("cityhub/v1/aq-1/status", b"offline", 1))
    stop_now = threading.Event()
    with running(stores, broker, inbox, batch_size=1, stop=stop_now) as (loop, _m, errors):
        assert in_outage.wait(10)
        _fill(inbox, range(2, 3))
        wait_for(lambda: sum(len(s.committed) for s in stores) == 2, what="both commits")
        wait_for(lambda: loop.held() == 2, what="both batches in the writers")
        stop_now.set()
    assert broker.acked() == []
    assert errors == []


def test_a_refused_status_update_leaves_a_dead_letter_and_the_batch_goes_on() -> None:
    def refuse(_plan: BatchPlan) -> None:
        raise StoreError("the device status was refused: test")

    store, broker, inbox = FakeStore(before_state=refuse), FakeBroker(), Inbox(100)
    inbox.put(message("cityhub/v1/aq-1/status", b"offline", 1))
    inbox.put(message("cityhub/v1/aq-1/telemetry", {"ts": MS, "pm10": 5.0}, 2))
    with running([store], broker, inbox) as (_loop, metrics, errors):
        wait_for(lambda: broker.acked() == [1, 2], what="the acknowledgements")
        assert [(d.topic, d.payload, d.code) for d in store.dead] == [
            ("cityhub/v1/aq-1/status", b"offline", "store_failed")]
        assert store.committed == [[5.0]]
        assert metrics.registry.get_sample_value(
            "cityhub_ingest_rejected_total", {"reason": "store_failed"}) == 1.0
        assert errors == []


def test_messages_of_an_earlier_connection_are_committed_but_not_acknowledged() -> None:
    store, broker, inbox = FakeStore(), FakeBroker(), Inbox(100)
    broker.generation = 2
    _fill(inbox, range(1, 3), generation=1)
    _fill(inbox, range(3, 5), generation=2)
    with running([store], broker, inbox, batch_size=4) as (loop, _metrics, errors):
        wait_for(lambda: loop.held() == 0 and store.committed, what="the commit")
        assert broker.acked() == [3, 4]
        assert sorted(v for batch in store.committed for v in batch) == [1.0, 2.0, 3.0, 4.0]
        assert errors == []


@pytest.mark.parametrize(("failure", "times", "outages"), [
    (DatabaseUnavailable("database unavailable: test"), 3, 1.0),
    (WriteConflict("the batch collided with another writer's"), 1, 0.0),
], ids=["outage", "conflict"])
def test_a_failed_commit_is_retried_and_only_then_acknowledged(
    failure: Exception, times: int, outages: float,
) -> None:
    attempts: list[int] = []

    def flaky(_plan: BatchPlan) -> None:
        attempts.append(len(attempts))
        if len(attempts) <= times:
            raise failure

    store, broker, inbox = FakeStore(flaky), FakeBroker(), Inbox(100)
    _fill(inbox, range(1, 3))
    with running([store], broker, inbox) as (_loop, metrics, errors):
        wait_for(lambda: broker.acked() == [1, 2], what="the acknowledgement after the retries")
        assert len(attempts) == times + 1
        assert store.committed == [[1.0, 2.0]]
        # A conflict between writers is no outage.
        assert metrics.registry.get_sample_value("cityhub_ingest_db_outages_total") == outages
        assert metrics.registry.get_sample_value("cityhub_ingest_db_up") == 1.0
        assert errors == []


def test_a_writer_that_fails_stops_the_loop_with_its_error() -> None:
    def broken(_plan: BatchPlan) -> None:
        raise RuntimeError("disk on fire")

    broker, inbox = FakeBroker(), Inbox(100)
    _fill(inbox, range(1, 3))
    with running([FakeStore(broken), FakeStore(broken)], broker, inbox) as (_l, _m, errors):
        wait_for(lambda: errors, what="run() to re-raise")
    assert isinstance(errors[0], RuntimeError)
    assert broker.acked() == []


def test_at_least_one_writer_is_needed() -> None:
    with pytest.raises(ValueError, match="at least one"):
        IngestLoop(inbox=Inbox(1), broker=FakeBroker(), stores=[], lookups=FakeStore(),
                   planner=planner(), metrics=IngestMetrics(backlog=lambda: 0.0), batch_size=1,
                   batch_linger=0.0, stop=threading.Event())
