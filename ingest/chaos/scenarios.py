"""Every scenario, by the name `cityhub bench chaos --only` and the tests use."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ingest.chaos import broker_faults, database_faults, ingest_faults, input_faults
from ingest.chaos.lab import Lab, Outcome, Scale

Scenario = Callable[[Lab, Scale], Outcome]

SCENARIOS: dict[str, Scenario] = {
    "database-stopped": database_faults.database_stopped,
    "disk-full": database_faults.disk_full,
    "ingest-killed": ingest_faults.ingest_killed,
    "ingest-terminated": ingest_faults.ingest_terminated,
    "broker-killed": broker_faults.broker_killed,
    "broker-killed-backlog": broker_faults.broker_killed_with_backlog,
    "broker-autosave": broker_faults.broker_autosave,
    "broker-autosave-on-changes": partial(broker_faults.broker_autosave, interval=1000,
                                          on_changes=True),
    "worker-killed": ingest_faults.worker_of_three_killed,
    "slow-consumer": lambda lab, scale: broker_faults.slow_consumer(
        lab, scale, queue_limit=scale.queue_limit),
    "slow-consumer-deployed": partial(broker_faults.slow_consumer, queue_limit=None),
    "poison": database_faults.poison_message,
    "duplicates-malformed": input_faults.duplicates_and_malformed,
}
# Only in `cityhub bench chaos`: a real autosave period is too long for the tests, which
# save on demand instead (broker-killed-backlog).
BENCH_ONLY = frozenset({"broker-autosave", "broker-autosave-on-changes"})
# The scenarios that need a private PostgreSQL server (the others share a database).
PRIVATE_SERVER = frozenset({"database-stopped", "disk-full"})
