"""The planner and writers of IngestLoop, with the database and broker replaced by
doubles: acknowledgements follow commits, go out in arrival order even when a later
batch commits first, wait out an outage, and a failing writer stops the loop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

import pytest

from hub.errors import DatabaseUnavailable
from ingest.errors import WriteConflict
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
    generation = 1

    def __init__(self) -> None:
        self.acks: list[list[int]] = []
        self._lock = threading.Lock()

    def ack_many(self, mids: list[int]) -> None:
        with self._lock:
            self.acks.append(list(mids))

    def publish(self, topic: str, payload: bytes) -> None:
        pass

    def acked(self) -> list[int]:
        with self._lock:
            return [m for batch in self.acks for m in batch]


class FakeStore:
    """Records the readings of each committed plan; *before_commit* may block or raise."""

    def __init__(self, before_commit: Callable[[BatchPlan], None] = lambda _p: None) -> None:
        self.committed: list[list[float]] = []
        self._before = before_commit

    def write(self, plan: BatchPlan) -> None:
        self._before(plan)
        self.committed.append([r[3] for r in plan.readings])

    def write_dead_letters(self, rows: list[DeadLetterRow]) -> None:
        pass

    def devices(self, ids: Sequence[str] | None = None) -> dict[str, DeviceInfo]:
        return dict(DEVICES)

    def retention(self) -> timedelta:
        return timedelta(days=3650)

    def maintain(self) -> None:
        pass


def _fill(inbox: Inbox, mids: range) -> None:
    for mid in mids:
        inbox.put(message("cityhub/v1/aq-1/telemetry", {"ts": MS + mid, "pm10": float(mid)}, mid))


@contextmanager
def running(stores: Sequence[FakeStore], broker: FakeBroker, inbox: Inbox, *,
            batch_size: int = 2) -> Iterator[tuple[IngestLoop, IngestMetrics, list[BaseException]]]:
    """The loop in a thread; what run() raised lands in the list."""
    stop = threading.Event()
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
    release_first = threading.Event()
    first_batch_seen = threading.Event()

    def hold_first(plan: BatchPlan) -> None:
        if plan.readings and plan.readings[0][3] == 1.0:
            first_batch_seen.set()
            assert release_first.wait(10)

    slow, fast = FakeStore(hold_first), FakeStore()
    broker, inbox = FakeBroker(), Inbox(100)
    _fill(inbox, range(1, 3))
    with running([slow, fast], broker, inbox) as (loop, _metrics, errors):
        assert first_batch_seen.wait(10)
        _fill(inbox, range(3, 7))
        # The other writer commits the later batches while the first is held...
        wait_for(lambda: len(fast.committed) >= 1, what="a later commit")
        # ...and none of them is acknowledged before the first batch.
        assert broker.acked() == []
        assert loop.held() >= 4
        release_first.set()
        wait_for(lambda: len(broker.acked()) == 6, what="all acknowledgements")
        assert broker.acked() == [1, 2, 3, 4, 5, 6]
        assert loop.held() == 0
        assert errors == []


def test_an_outage_holds_the_acknowledgements_until_the_commit() -> None:
    failures = {"left": 3}
    attempts: list[int] = []

    def flaky(_plan: BatchPlan) -> None:
        attempts.append(len(attempts))
        if failures["left"]:
            failures["left"] -= 1
            raise DatabaseUnavailable("database unavailable: test")

    store, broker, inbox = FakeStore(flaky), FakeBroker(), Inbox(100)
    _fill(inbox, range(1, 3))
    with running([store], broker, inbox) as (_loop, metrics, errors):
        wait_for(lambda: broker.acked() == [1, 2], what="the acknowledgement after the outage")
        assert len(attempts) == 4
        assert store.committed == [[1.0, 2.0]]
        assert metrics.registry.get_sample_value("cityhub_ingest_db_outages_total") == 1.0
        assert metrics.registry.get_sample_value("cityhub_ingest_db_up") == 1.0
        assert errors == []


def test_a_write_conflict_is_retried_without_an_outage() -> None:
    conflicts = {"left": 1}

    def conflict_once(_plan: BatchPlan) -> None:
        if conflicts["left"]:
            conflicts["left"] -= 1
            raise WriteConflict("the batch collided with another writer's")

    store, broker, inbox = FakeStore(conflict_once), FakeBroker(), Inbox(100)
    _fill(inbox, range(1, 3))
    with running([store], broker, inbox) as (_loop, metrics, errors):
        wait_for(lambda: broker.acked() == [1, 2], what="the acknowledgement after the retry")
        assert store.committed == [[1.0, 2.0]]
        assert metrics.registry.get_sample_value("cityhub_ingest_db_outages_total") == 0.0
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
