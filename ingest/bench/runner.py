"""`cityhub bench ingest` end to end: database, devices, the naive trial, the ingest trial."""

from __future__ import annotations

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
    ingest: Trial
    finished: datetime


def run_bench(config: BenchConfig, database_url: str | None, admin_url: str) -> BenchResult:
    """Run the naive trial (unless switched off), then the ingest trial, each on a fresh
    broker; everything made on the way is removed again, on error and Ctrl-C too."""
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

        def start_ingest(broker: ThrowawayBroker) -> IngestConsumer:
            return IngestConsumer(work / "ingest", url, broker.url, key_file, config.batch,
                                  config.mqtt_protocol)

        settle(url)
        ingest = run_trial(start_ingest, config, fleet, url, work / "ingest")
    return BenchResult(config, machine, naive, ingest, datetime.now(UTC))
