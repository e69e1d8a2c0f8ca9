"""What every scenario needs: a database, devices, brokers, ingest workers, the counts.

A scenario runs in a ``Run``: everything it starts is stopped when it ends, whatever
happens; its devices are its own, so scenarios may share a database.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hub.catalogue import Catalogue
from hub.db import connection
from hub.device_tokens import TokenKey, TokenKeys
from hub.registry import add_device
from ingest.chaos.broker import BrokerLimits, PrivateBroker
from ingest.chaos.counts import Counts, Key, dead_letter_count, stored_readings, tally
from ingest.chaos.postgres import PrivatePostgres
from ingest.chaos.publisher import Publisher
from ingest.chaos.waiting import wait_until
from ingest.chaos.workers import IngestWorker, worker_env

SETTLE_TIMEOUT_S = 90.0


@dataclass(frozen=True, slots=True)
class Scale:
    """How long and how hard: short in tests/chaos, long in `cityhub bench chaos`."""

    rate: float  # readings a second, all devices together
    lead_s: float  # streaming before the fault, and after it is repaired
    fault_s: float  # how long a database outage, a dead worker or a full disk lasts
    devices: int = 5
    queue_limit: int = 100  # the small broker queue of the slow-consumer scenario

    def readings(self, seconds: float) -> int:
        return max(1, round(self.rate * seconds))


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: str
    fault: str  # what was done, in a few words
    counts: Counts
    # Lost readings the broker's own guarantee allows (0: the hub's promise applies).
    bound: int
    note: str
    seconds: float = 0.0
    details: Mapping[str, float] = field(default_factory=dict)

    @property
    def within_bound(self) -> bool:
        return self.counts.lost <= self.bound and self.counts.duplicated == 0


class Lab:
    def __init__(self, database_url: str, catalogue: Catalogue, key_file: Path, work: Path,
                 private: PrivatePostgres | None = None) -> None:
        self.database_url = database_url
        self.catalogue = catalogue
        self.key_file = key_file
        self.work = work
        self.private = private

    @contextmanager
    def run(self, name: str, database_url: str | None = None) -> Iterator[Run]:
        folder = self.work / f"{name}-{secrets.token_hex(3)}"
        folder.mkdir(parents=True)
        with ExitStack() as stack:
            yield Run(self, name, folder, database_url or self.database_url, stack)


class Run:
    """One scenario's devices, broker(s), workers and publisher, and its clock."""

    def __init__(self, lab: Lab, name: str, folder: Path, database_url: str,
                 stack: ExitStack) -> None:
        self.lab = lab
        self.name = name
        self.folder = folder
        self.url = database_url
        self.stack = stack
        self.started = time.monotonic()
        self.base_ms = int(time.time() * 1000) - 600_000
        self.group = f"chaos-{secrets.token_hex(3)}"
        self.device_ids: list[str] = []

    def devices(self, count: int, kind: str = "air_quality") -> list[str]:
        made = [f"chaos-{kind.replace('_', '')}-{secrets.token_hex(4)}" for _ in range(count)]
        # The devices publish anonymously here: their tokens are hashed the fast way.
        keys = TokenKeys(TokenKey.from_text(secrets.token_hex(16)))
        with connection(self.url) as conn:
            for device_id in made:
                add_device(conn, self.lab.catalogue, device_id, kind, keys=keys)
        if kind == "air_quality":
            self.device_ids.extend(made)
        return made

    def broker(self, limits: BrokerLimits | None = None, name: str = "broker") -> PrivateBroker:
        broker = PrivateBroker(self.folder / name, limits or BrokerLimits())
        broker.start()
        self.stack.callback(broker.stop)
        return broker

    def worker(self, broker: PrivateBroker, name: str = "ingest", *, start: bool = True,
               extra: Mapping[str, str] | None = None) -> IngestWorker:
        """An ingest process of the run's group; started and subscribed with *start*."""
        env = worker_env(self.url, broker.url, self.lab.key_file,
                         client_id=f"{self.group}-{name}", group=self.group, extra=extra)
        worker = IngestWorker(env, self.folder / f"{name}.log")
        self.stack.callback(worker.stop)
        if start:
            worker.start()
        return worker

    def workers(self, broker: PrivateBroker, count: int) -> list[IngestWorker]:
        """*count* ingest processes sharing the stream, started side by side."""
        made = [self.worker(broker, f"worker-{i}", start=False) for i in range(count)]
        for worker in made:
            worker.start(wait=False)
        for worker in made:
            worker.wait_ready()
        return made

    def publisher(self, broker: PrivateBroker, first: int = 0) -> Publisher:
        """A publisher for the run's devices, numbering from reading *first* on."""
        publisher = Publisher(broker.host, broker.port, self.device_ids, self.base_ms,
                              first=first)
        self.stack.callback(publisher.close)
        return publisher

    # -- the database's view ------------------------------------------------------------
    def stored(self) -> set[Key]:
        return set(stored_readings(self.url, self.device_ids, self.base_ms))

    def wait_stored(self, keys: Collection[Key], timeout: float = SETTLE_TIMEOUT_S) -> None:
        wanted = set(keys)
        wait_until(lambda: wanted <= self.stored(), timeout, f"{len(wanted)} readings to be stored")

    def settle(self, publisher: Publisher, workers: Sequence[IngestWorker],
               timeout: float = SETTLE_TIMEOUT_S) -> None:
        """Wait until ingest has handled everything published: a last reading, sent after
        all the others, is stored and no live worker holds anything."""
        publisher.wait_acknowledged(timeout)
        marker = publisher.publish_one()
        publisher.wait_acknowledged(timeout)
        deadline = time.monotonic() + timeout
        wait_until(lambda: marker in self.stored(), timeout, "the last reading to be stored")
        wait_until(lambda: all(w.metric("cityhub_ingest_backlog") == 0.0
                               for w in workers if w.alive()),
                   max(1.0, deadline - time.monotonic()), "ingest's backlog to empty")

    def counts(self, publisher: Publisher, *, fault_began: Collection[Key] = (),
               before_repair: Collection[Key] = (), acknowledged: Collection[Key] | None = None,
               published: Collection[Key] | None = None) -> Counts:
        stored = stored_readings(self.url, self.device_ids, self.base_ms)
        return tally(publisher.published() if published is None else published,
                     publisher.acknowledged() if acknowledged is None else acknowledged,
                     stored, stored_when_fault_began=fault_began, published_before_repair=before_repair,
                     dead_letters=dead_letter_count(self.url, self.device_ids))

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started
