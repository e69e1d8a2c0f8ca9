"""Scenarios where the database fails: stopped hard, its disk full, a poison message."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import cast

from psycopg import sql

from hub.db import connect
from ingest.chaos.counts import Key
from ingest.chaos.errors import Unsupported
from ingest.chaos.lab import Lab, Outcome, Run, Scale
from ingest.chaos.postgres import PrivatePostgres
from ingest.chaos.publisher import Publisher
from ingest.chaos.waiting import wait_until
from ingest.chaos.workers import IngestWorker

# Megabytes of the tmpfs under the disk-full scenario's tablespace: a migrated database
# takes about 20 (with its partitions made days ahead).
SMALL_DISK_MB = 48


def _private(lab: Lab) -> PrivatePostgres:
    if lab.private is None:
        raise Unsupported("this scenario needs a private PostgreSQL server")
    return lab.private


def _outage(run: Run, worker: IngestWorker, publisher: Publisher, scale: Scale,
            inject: Callable[[], object], repair: Callable[[], object]) -> tuple[set[Key], set[Key], float]:
    """Stream, inject the fault, hold it scale.fault_s seconds, repair; returns the readings
    stored when it began, those published before the repair, and its length."""
    lead = scale.readings(scale.lead_s)
    publisher.start(2 * lead + scale.readings(scale.fault_s), scale.rate)
    wait_until(lambda: len(run.stored()) >= lead // 2, 60, "readings before the fault")
    fault_began = run.stored()
    began = time.monotonic()
    inject()
    wait_until(lambda: worker.metric("cityhub_ingest_db_up") == 0.0, 60,
               "ingest to see the database fail")
    time.sleep(max(0.0, began + scale.fault_s - time.monotonic()))  # the fault's length
    before_repair = set(publisher.published())
    repair()
    length = time.monotonic() - began
    publisher.join(120)
    run.settle(publisher, [worker])
    return fault_began, before_repair, length


def database_stopped(lab: Lab, scale: Scale) -> Outcome:
    """PostgreSQL stopped with `pg_ctl stop -m immediate` mid-stream, started again after
    scale.fault_s seconds on the same port."""
    private = _private(lab)
    with private.database(lab.catalogue) as url, lab.run("database-stopped", url) as run:
        run.devices(scale.devices)
        broker = run.broker()
        worker = run.worker(broker)
        publisher = run.publisher(broker)
        fault_began, before_repair, length = _outage(
            run, worker, publisher, scale, private.stop_hard, private.start)
        counts = run.counts(publisher, fault_began=fault_began, before_repair=before_repair)
        return Outcome(
            "database stopped hard", f"pg_ctl stop -m immediate, {length:.0f} s down", counts, 0,
            "ingest holds its acknowledgements; the broker keeps the backlog",
            run.seconds, {"outage_s": length,
                          "outages_seen": worker.metric("cityhub_ingest_db_outages_total") or 0})


def disk_full(lab: Lab, scale: Scale) -> Outcome:
    """The database's tablespace (a small tmpfs) filled to the last byte mid-stream, and
    freed after scale.fault_s seconds."""
    private = _private(lab)
    name = f"chaos_small_{int(time.time())}"
    disk = private.small_tablespace(name, SMALL_DISK_MB)
    try:
        with private.database(lab.catalogue, tablespace=name) as url, \
                lab.run("disk-full", url) as run:
            run.devices(scale.devices)
            broker = run.broker()
            worker = run.worker(broker)
            publisher = run.publisher(broker)
            filled: list[int] = []
            fault_began, before_repair, length = _outage(
                run, worker, publisher, scale, lambda: filled.append(disk.fill()), disk.free)
            counts = run.counts(publisher, fault_began=fault_began, before_repair=before_repair)
            refused = "could not extend file" in worker.log_tail(200_000) or \
                "No space left" in worker.log_tail(200_000)
            return Outcome(
                "database disk full", f"tablespace full for {length:.0f} s", counts, 0,
                "PostgreSQL refuses writes with SQLSTATE 53100 (disk_full); ingest treats it as "
                "an outage", run.seconds,
                {"outage_s": length, "filler_mb": sum(filled) / 2**20,
                 "disk_full_seen": 1.0 if refused else 0.0})
    finally:
        disk.free()
        with connect(private.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP TABLESPACE IF EXISTS {}").format(sql.Identifier(name)))


# PostgreSQL refuses a NUL character in jsonb: the batch holding this event fails as a
# whole; ingest/writer.py splits it and keeps this message as a store_failed dead letter.
def poison_event(ts_ms: int) -> bytes:
    return json.dumps({"ts": ts_ms, "type": "loitering", "object_class": "car\u0000"}).encode()


def poison_message(lab: Lab, scale: Scale) -> Outcome:
    """One event the database refuses, between good readings: a dead letter, nothing more."""
    with lab.run("poison") as run:
        run.devices(scale.devices)
        camera = run.devices(1, "cctv")[0]
        broker = run.broker()
        worker = run.worker(broker)
        publisher = run.publisher(broker)
        half = scale.readings(scale.lead_s)
        publisher.publish(half, scale.rate)
        publisher.publish_raw(f"cityhub/v1/{camera}/events", poison_event(run.base_ms))
        publisher.publish(half, scale.rate)
        run.settle(publisher, [worker])
        counts = run.counts(publisher)
        with connect(run.url, autocommit=True) as conn:
            letters = conn.execute(
                "SELECT reason_code, count(*) FROM hub.dead_letters WHERE device_id = %s "
                "GROUP BY 1", (camera,)).fetchall()
        received = worker.metric("cityhub_ingest_received_total") or 0.0
        poison_letters = {cast(str, code): cast(int, n) for code, n in letters}
        return Outcome(
            "poison message", "one event the database refuses, among good readings", counts, 0,
            "the batch is split; the event becomes one store_failed dead letter",
            run.seconds,
            {"store_failed": float(poison_letters.get("store_failed", 0)),
             "other_dead_letters": float(sum(poison_letters.values())
                                         - poison_letters.get("store_failed", 0)),
             # Every message received once: no redelivery loop on the poison.
             "received": received, "sent": float(len(publisher.published()) + 1),
             "ingest_alive": 1.0 if worker.alive() else 0.0})
