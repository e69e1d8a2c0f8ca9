"""Builds the ingest service from settings and runs it until SIGINT or SIGTERM."""

from __future__ import annotations

import gc
import logging
import signal
import threading

from paho.mqtt.enums import MQTTProtocolVersion

from hub.catalogue import load_catalogue
from hub.errors import DatabaseUnavailable
from hub.pseudonym import load_keys
from hub.settings import Settings
from ingest.inbox import Inbox
from ingest.metrics import IngestMetrics
from ingest.mqtt import MqttConsumer
from ingest.pipeline import Planner
from ingest.retry import Backoff
from ingest.service import IngestLoop
from ingest.store import Store
from ingest.validate import Validator

log = logging.getLogger(__name__)


def _wait_for_database(stores: tuple[Store, ...], stop: threading.Event) -> bool:
    """Wait until every store has its connection."""
    delay = Backoff().delays()
    while not stop.is_set():
        try:
            for store in stores:
                store.retention()
            return True
        except DatabaseUnavailable as exc:
            log.warning("%s; waiting for the database", exc)
            stop.wait(delay())
    return False


# Ingest allocates a few container objects per reading (the decoded JSON) while whole
# batches are alive, so CPython's default thresholds (700, 10, 10) run collections that
# mostly traverse live batch data: about a third of the planner's time for gateway
# batches (docs/benchmarks.md). Ingest builds no reference cycles on its hot path.
GC_THRESHOLDS = (50_000, 20, 100)


def _tune_gc() -> None:
    gc.freeze()  # what start-up loaded (modules, catalogue) is never collected
    gc.set_threshold(*GC_THRESHOLDS)


def _on_signal(drain: threading.Event, stop: threading.Event) -> None:
    """The first SIGTERM or Ctrl-C drains (ingest/service.py); a second stops at once."""
    if drain.is_set():
        stop.set()
    drain.set()


def run_ingest(settings: Settings, stop: threading.Event | None = None) -> None:
    settings.require_service_secret()
    url = settings.require_database()
    target = settings.mqtt_target()
    catalogue = load_catalogue(settings.kinds_file)
    keys = load_keys(settings.key_file)
    stop = stop or threading.Event()
    drain = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: _on_signal(drain, stop))

    receive_maximum = settings.ingest_receive_maximum
    inbox = Inbox(capacity=2 * receive_maximum)
    v5 = settings.mqtt_protocol == "5"
    consumer = MqttConsumer(
        target, inbox,
        client_id=settings.ingest_client_id,
        # Shared subscriptions are an MQTT 5 feature that Mosquitto and EMQX also honour
        # for 3.1.1 clients, so several ingest processes share the stream on either.
        shared_group=settings.ingest_shared_group,
        receive_maximum=receive_maximum,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
    )
    writers = [Store(url) for _ in range(settings.ingest_writers)]
    lookups = Store(url)
    planner = Planner(Validator(catalogue, keys), catalogue.personal_fields, keys)
    metrics = IngestMetrics(backlog=lambda: float(len(inbox)))
    loop = IngestLoop(
        inbox=inbox, broker=consumer, stores=writers, lookups=lookups, planner=planner,
        metrics=metrics,
        batch_size=settings.ingest_batch_size, batch_linger=settings.ingest_batch_ms / 1000,
        stop=stop, drain=drain,
    )
    metrics.backlog.set_function(lambda: float(len(inbox) + loop.held()))
    port = metrics.serve(settings.ingest_metrics_host, settings.ingest_metrics_port)
    log.info("ingest metrics on http://%s:%d/metrics", settings.ingest_metrics_host, port)
    try:
        if not _wait_for_database((*writers, lookups), stop):
            return
        _tune_gc()
        consumer.start()
        # Not ready while the broker is away, nor after a reconnect until the subscription
        # is back (a restarted Mosquitto routes nothing to ingest before).
        metrics.ready.set_function(lambda: 1.0 if consumer.subscribed.is_set() else 0.0)
        loop.run()
    finally:
        consumer.stop()
        for store in (*writers, lookups):
            store.close()
        log.info("ingest stopped")
