"""Scenarios where ingest itself fails: killed, terminated, one of three workers killed."""

from __future__ import annotations

import time

from hub.db import connect
from ingest.chaos.lab import Lab, Outcome, Scale
from ingest.chaos.waiting import wait_until

RECEIVED = "cityhub_ingest_received_total"


def ingest_killed(lab: Lab, scale: Scale) -> Outcome:
    """SIGKILL mid-stream; the same client id starts again after scale.fault_s seconds."""
    with lab.run("ingest-killed") as run:
        run.devices(scale.devices)
        broker = run.broker()
        worker = run.worker(broker)
        publisher = run.publisher(broker)
        lead = scale.readings(scale.lead_s)
        publisher.start(2 * lead + scale.readings(scale.fault_s), scale.rate)
        wait_until(lambda: len(run.stored()) >= lead // 2, 60, "readings before the kill")
        fault_began = run.stored()
        began = time.monotonic()
        worker.kill()
        time.sleep(max(0.0, began + scale.fault_s - time.monotonic()))  # the fault's length
        before_repair = set(publisher.published())
        worker.start()
        publisher.join(120)
        run.settle(publisher, [worker])
        counts = run.counts(publisher, fault_began=fault_began, before_repair=before_repair)
        return Outcome("ingest SIGKILL", f"killed, restarted {scale.fault_s:.0f} s later", counts,
                       0, "the persistent session keeps what was unacknowledged; the broker "
                       "delivers it again", run.seconds)


def ingest_terminated(lab: Lab, scale: Scale) -> Outcome:
    """SIGTERM while ingest holds readings it has not committed (a lock on the telemetry
    table keeps its writers waiting): it commits and acknowledges them, then exits. After
    a restart the broker has nothing of them to deliver again."""
    with lab.run("ingest-terminated") as run:
        run.devices(scale.devices)
        broker = run.broker()
        worker = run.worker(broker)
        publisher = run.publisher(broker)
        held = scale.readings(scale.lead_s)
        with connect(run.url) as blocker:
            # Lets ingest read but not write: its writers wait on this lock, holding.
            blocker.execute("LOCK TABLE hub.telemetry IN SHARE MODE")
            publisher.publish(held, scale.rate)
            publisher.wait_acknowledged(30)
            wait_until(lambda: worker.metric("cityhub_ingest_backlog") == float(held), 60,
                       "ingest to hold every reading")
            fault_began = run.stored()
            began = time.monotonic()
            assert worker.process is not None
            worker.process.terminate()
            wait_until(lambda: "draining:" in worker.log_tail(), 30, "ingest to start draining")
            blocker.rollback()
        code = worker.process.wait(30)
        drain_s = time.monotonic() - began
        drained = len(set(publisher.published()) & run.stored())
        # While it is down the broker queues the next readings for its session.
        publisher.publish(scale.readings(scale.fault_s), scale.rate)
        publisher.wait_acknowledged(30)
        before_repair = set(publisher.published())
        after_exit = len(before_repair) - held
        worker.start()
        run.settle(publisher, [worker])
        # Everything it received after the restart: the readings published while it was
        # down, the last one of settle(), and whatever the broker delivered again.
        redelivered = (worker.metric(RECEIVED) or 0.0) - after_exit - 1
        counts = run.counts(publisher, fault_began=fault_began, before_repair=before_repair)
        return Outcome(
            "ingest SIGTERM (drain)", "SIGTERM while holding uncommitted readings", counts, 0,
            "it commits and acknowledges what it holds, then exits", run.seconds,
            {"exit_code": float(code), "held": float(held), "drained": float(drained),
             "drain_s": drain_s, "redelivered": redelivered})


def worker_of_three_killed(lab: Lab, scale: Scale) -> Outcome:
    """Three workers share the stream; one is killed and comes back scale.fault_s seconds
    later. Mosquitto 2.0 goes on giving the dead member its share, queued in its
    persistent session: those readings wait for its return (docs/chaos.md)."""
    with lab.run("worker-killed") as run:
        run.devices(scale.devices)
        broker = run.broker()
        workers = run.workers(broker, 3)
        publisher = run.publisher(broker)
        lead = scale.readings(scale.lead_s)
        publisher.publish(lead, scale.rate)
        run.wait_stored(publisher.acknowledged())
        fault_began = run.stored()
        began = time.monotonic()
        workers[0].kill()
        publisher.publish(scale.readings(scale.fault_s), scale.rate)
        publisher.wait_acknowledged(30)
        live = workers[1:]
        # Those the live workers were given are stored within moments; what is left
        # waits in the dead one's session.
        previous: list[int] = []

        def quiet() -> bool:
            if not all(w.metric("cityhub_ingest_backlog") == 0.0 for w in live):
                return False
            previous.append(len(run.stored()))
            return len(previous) >= 10 and previous[-1] == previous[-10]

        wait_until(quiet, 60, "the live workers to be idle")
        time.sleep(max(0.0, began + scale.fault_s - time.monotonic()))  # the fault's length
        stranded = len(publisher.acknowledged() - run.stored())
        before_repair = set(publisher.published())
        workers[0].start()
        returned = time.monotonic()
        run.wait_stored(publisher.acknowledged())
        recovered_s = time.monotonic() - returned
        run.settle(publisher, workers)
        counts = run.counts(publisher, fault_began=fault_began, before_repair=before_repair)
        return Outcome(
            "1 of 3 workers SIGKILL", f"killed, restarted {scale.fault_s:.0f} s later", counts, 0,
            "the dead worker's share waits in its session until it returns", run.seconds,
            {"stranded": float(stranded), "waited_s": returned - began,
             "stored_after_return_s": recovered_s})
