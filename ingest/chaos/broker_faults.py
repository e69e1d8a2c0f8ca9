"""Scenarios where the broker fails or runs out of room: what it loses is its guarantee,
not the hub's, so each outcome carries the bound the broker's settings give."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from ingest.chaos.broker import BrokerLimits
from ingest.chaos.lab import Lab, Outcome, Scale
from ingest.chaos.waiting import wait_until

# The deployment's broker settings, whose limits the slow-consumer scenario checks.
DEPLOYED_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"


def deployed_setting(name: str, default: int, conf: Path = DEPLOYED_CONF) -> int:
    """An integer setting of deploy/mosquitto/mosquitto.conf (*default* when absent)."""
    try:
        text = conf.read_text(encoding="utf-8")
    except OSError:
        return default
    found = re.search(rf"^\s*{re.escape(name)}\s+(\d+)\s*$", text, re.MULTILINE)
    return int(found.group(1)) if found else default


def broker_killed(lab: Lab, scale: Scale) -> Outcome:
    """The broker (persistence on) killed with SIGKILL mid-stream while ingest keeps up,
    and started again on the same store. Ingest's subscription was saved before.

    Mosquitto 2.0 restores ingest's session but not its shared subscription: what reaches
    it after the restart and before ingest's new SUBACK is acknowledged and routed nowhere
    (tests/chaos/test_mosquitto_restore.py). After that, nothing may be lost."""
    limits = BrokerLimits(persistence=True, autosave_interval=3600)
    with lab.run("broker-killed") as run:
        run.devices(scale.devices)
        broker = run.broker(limits)
        worker = run.worker(broker)
        broker.save()  # the session and its subscription, as autosave does within minutes
        publisher = run.publisher(broker)
        lead = scale.readings(scale.lead_s)
        # Enough to go on for a while after the restart.
        publisher.start(3 * lead + scale.readings(1.0), scale.rate)
        wait_until(lambda: len(run.stored()) >= lead // 2, 60, "readings before the kill")
        fault_began = run.stored()
        broker.kill()
        killed_at = time.monotonic()
        acked_at_kill = len(publisher.acknowledged())  # nothing was published before the save
        published_at_kill = len(publisher.published())
        wait_until(lambda: worker.metric("cityhub_ingest_ready") == 0.0, 10,
                   "ingest to notice the broker is gone")
        time.sleep(max(0.0, killed_at + 1.0 - time.monotonic()))  # the broker stays down 1 s
        before_repair = set(publisher.published())
        broker.start()
        worker.wait_ready()  # subscribed again
        until_resubscribed = set(publisher.published())
        publisher.join(120)
        run.settle(publisher, [worker])
        counts = run.counts(publisher, fault_began=fault_began, before_repair=before_repair)
        after = set(publisher.published()) - until_resubscribed
        lost_after = len((publisher.acknowledged() & after) - run.stored())
        return Outcome(
            "broker SIGKILL, ingest keeping up", "kill -9, restarted after 1 s", counts,
            len(until_resubscribed),
            "bound: readings acknowledged since the broker's last save that it had not yet "
            "delivered to ingest, and readings it took after the restart before ingest "
            "subscribed again (Mosquitto 2.0 does not restore shared subscriptions)",
            run.seconds,
            {"acked_since_save": float(acked_at_kill),
             "published_until_resubscribed": float(len(until_resubscribed) - published_at_kill),
             "published_after_resubscribe": float(len(after)),
             "lost_after_resubscribe": float(lost_after)})


def broker_killed_with_backlog(lab: Lab, scale: Scale) -> Outcome:
    """The broker killed while it holds ingest's backlog (ingest stopped): what it saved
    survives, what it acknowledged after its last save is lost."""
    limits = BrokerLimits(persistence=True, autosave_interval=3600)
    with lab.run("broker-killed-backlog") as run:
        run.devices(scale.devices)
        broker = run.broker(limits)
        worker = run.worker(broker)
        assert worker.terminate() == 0  # its session stays, and the broker queues for it
        publisher = run.publisher(broker)
        saved = scale.readings(scale.lead_s)
        publisher.publish(saved, scale.rate)
        publisher.wait_acknowledged(30)
        broker.save()  # what autosave_interval does every so often
        unsaved = scale.readings(scale.lead_s)
        publisher.publish(unsaved, scale.rate)
        publisher.wait_acknowledged(30)
        fault_began = run.stored()
        broker.kill()
        before_repair = set(publisher.published())
        broker.start()
        worker.start()
        run.settle(publisher, [worker])
        counts = run.counts(publisher, fault_began=fault_began, before_repair=before_repair)
        return Outcome(
            "broker SIGKILL, holding a backlog", "kill -9 with ingest stopped, then restart",
            counts, unsaved,
            "bound: readings acknowledged since the broker's last save (autosave_interval)",
            run.seconds, {"saved": float(saved), "acked_since_save": float(unsaved)})


def broker_autosave(lab: Lab, scale: Scale, *, interval: int | None = None,
                    on_changes: bool = False) -> Outcome:
    """The broker's own autosave (every *interval* seconds, or every *interval* changes
    with *on_changes*; the deployed setting when None) while it holds a growing backlog,
    killed at a moment it chose nothing about."""
    every = deployed_setting("autosave_interval", 1800) if interval is None else interval
    limits = BrokerLimits(persistence=True, autosave_interval=every, autosave_on_changes=on_changes)
    with lab.run("broker-autosave") as run:
        run.devices(scale.devices)
        broker = run.broker(limits)
        worker = run.worker(broker)
        assert worker.terminate() == 0  # its session stays, and the broker queues for it
        publisher = run.publisher(broker)
        # Past one save period (or a good many changes), then killed mid-period.
        seconds = scale.lead_s + (0.0 if on_changes else every * 1.5)
        publisher.publish(scale.readings(seconds), scale.rate)
        publisher.wait_acknowledged(60)
        saves = broker.saves()
        fault_began = run.stored()
        broker.kill()
        before_repair = set(publisher.published())
        broker.start()
        worker.start()
        run.settle(publisher, [worker])
        counts = run.counts(publisher, fault_began=fault_began, before_repair=before_repair)
        # Mosquitto's clock ticks in whole seconds and it saves once the interval is past.
        bound = every if on_changes else scale.readings(every + 1)
        setting = (f"autosave_on_changes true, autosave_interval {every}" if on_changes
                   else f"autosave_interval {every}")
        return Outcome(
            f"broker SIGKILL, {setting}", f"kill -9 after {seconds:.0f} s of backlog", counts,
            bound, "bound: what arrived since the last autosave (the readings of the interval "
            "plus 1 s, or that many changes)", run.seconds,
            {"autosaves": float(saves)})


def slow_consumer(lab: Lab, scale: Scale, *, queue_limit: int | None = None) -> Outcome:
    """Ingest frozen (SIGSTOP) while readings keep coming: the broker sends it up to its
    Receive Maximum, queues up to max_queued_messages more, and drops the rest; ingest
    resumes (SIGCONT). With *queue_limit* None, the deployed limit applies."""
    deployed = queue_limit is None
    limit = deployed_setting("max_queued_messages", 1000) if queue_limit is None else queue_limit
    receive_maximum = 10
    limits = BrokerLimits(max_queued_messages=limit)
    with lab.run("slow-consumer") as run:
        run.devices(scale.devices)
        broker = run.broker(limits)
        worker = run.worker(broker, extra={
            "CITYHUB_INGEST_RECEIVE_MAXIMUM": str(receive_maximum)})
        publisher = run.publisher(broker)
        assert worker.process is not None
        pid = worker.process.pid
        fault_began = run.stored()
        os.kill(pid, signal.SIGSTOP)
        try:
            # Frozen for at most 20 s: the broker ends a connection silent for 1.5 times
            # its 30 s keepalive, and this scenario is about a connected, slow consumer.
            count = max(scale.readings(min(scale.fault_s, 20.0)), 3 * scale.queue_limit)
            publisher.publish(count, scale.rate)
            publisher.wait_acknowledged(30)
        finally:
            os.kill(pid, signal.SIGCONT)
        before_repair = set(publisher.published())
        # Until ingest has emptied its queue, the broker drops the last reading too.
        kept = count if limit == 0 else min(count, limit + receive_maximum)
        wait_until(lambda: (worker.metric("cityhub_ingest_received_total") or 0) >= kept
                   and worker.metric("cityhub_ingest_backlog") == 0.0, 60,
                   "ingest to take what the broker kept")
        run.settle(publisher, [worker])
        counts = run.counts(publisher, fault_began=fault_began, before_repair=before_repair)
        bound = 0 if limit == 0 else max(0, count - limit - receive_maximum)
        name = "slow consumer, deployed limits" if deployed else "slow consumer past the queue"
        return Outcome(
            name, f"ingest frozen for {count} readings; max_queued_messages {limit:,}", counts,
            bound, "bound: what exceeds the queue limit plus the Receive Maximum in flight",
            run.seconds, {"queue_limit": float(limit), "receive_maximum": float(receive_maximum),
                          "dropped_warnings": float(broker.dropped_warnings())})
