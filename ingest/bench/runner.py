"""`cityhub bench ingest` end to end: database, devices, the naive trial, then one ingest
trial for each count of worker processes asked for (``--workers 1,2``)."""

from __future__ import annotations

import os
import secrets
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.bench.machine import Machine, describe
from hub.catalogue import load_catalogue
from hub.embedded import ThrowawayBroker, mosquitto_binary
from hub.migrate import migrate
from hub.pseudonym import ensure_keys
from ingest.bench.config import BenchConfig
from ingest.bench.consumers import IngestConsumer, NaiveConsumer
from ingest.bench.database import forget_fleet, settle, throwaway_database
from ingest.bench.fleet import make_fleet, register
from ingest.bench.trial import Trial, run_trial


@dataclass(frozen=True, slots=True)
class BenchResult:
    config: BenchConfig
    machine: Machine
    naive: Trial | None
    ingest: Trial  # with the first of config.workers
    finished: datetime
    # (worker processes, its trial) for each count of config.workers, in order.
    by_workers: tuple[tuple[int, Trial], ...] = ()
    load_before: float = 0.0  # the machine's 1-minute load average when the run began


def run_bench(config: BenchConfig, database_url: str | None, admin_url: str) -> BenchResult:
    """Run the naive trial (unless switched off), then the ingest trial, each on a fresh
    broker; everything made on the way is removed again, on error and Ctrl-C too."""
    load_before = os.getloadavg()[0]
    fleet = make_fleet(f"b{secrets.token_hex(3)}", config.devices, config.gateway_batch)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cityhub-bench-")))
        if database_url is None:
            url = stack.enter_context(throwaway_database(admin_url))
        else:
            url = database_url
            migrate(url, load_catalogue())
            stack.callback(forget_fleet, url, fleet)
        register(url, fleet)
        key_file = work / "pseudonym-keys.json"
        ensure_keys(key_file)
        machine = describe(url, mosquitto_binary() or "mosquitto")

        naive = None
        if config.naive:
            settle(url)

            def start_naive(broker: ThrowawayBroker) -> NaiveConsumer:
                return NaiveConsumer(work / "naive", url, broker.port, config.batch)

            naive = run_trial(start_naive, config, fleet, url, work / "naive")

        by_workers: list[tuple[int, Trial]] = []
        for workers in config.workers:
            directory = work / f"ingest-{workers}"

            def start_ingest(broker: ThrowawayBroker, workers: int = workers,
                             directory: Path = directory) -> IngestConsumer:
                return IngestConsumer(directory, url, broker.url, key_file, config.batch,
                                      config.mqtt_protocol, workers)

            settle(url)
            by_workers.append((workers, run_trial(start_ingest, config, fleet, url, directory)))
    return BenchResult(config, machine, naive, by_workers[0][1], datetime.now(UTC),
                       tuple(by_workers), load_before)
