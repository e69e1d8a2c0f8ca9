"""Prometheus metrics of one analytics service (own registry: no global state).

Served by :meth:`AnalyticsMetrics.serve` on ``CITYHUB_ANALYTICS_METRICS_HOST`` /
``CITYHUB_ANALYTICS_METRICS_PORT``; docs/operations.md lists every series. Labels stay few:
alerts are counted by rule id (the rules in ``hub.rules`` and the device-event types of the
catalogue), models' errors by model, never by device, zone or value.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

log = logging.getLogger(__name__)

# What AnalyticsMetrics.model_failed may be told: a fixed set, so the label stays bounded.
MODELS = ("sensor_fault", "meter_scan", "forecast")


class AnalyticsMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.readings = Counter(
            "cityhub_analytics_readings_evaluated",
            "Readings read from the hub and evaluated (sensor-fault screen, then the rules)",
            registry=r)
        self.withheld = Counter(
            "cityhub_analytics_readings_withheld",
            "Readings kept from the rules because their station is suspected faulty", registry=r)
        self.events = Counter(
            "cityhub_analytics_events_evaluated", "Device events read from the hub and evaluated",
            registry=r)
        self.raised = Counter(
            "cityhub_analytics_alerts_raised", "Alerts opened by the rules and device events",
            ["rule"], registry=r)
        self.lifted = Counter(
            "cityhub_analytics_alerts_lifted", "Alerts resolved as cleared by their rule", ["rule"],
            registry=r)
        self.lag = Gauge(
            "cityhub_analytics_lag_seconds",
            "At the last evaluation: wall clock minus the newest reading timestamp evaluated",
            registry=r)
        self.last_reading = Gauge(
            "cityhub_analytics_last_reading_timestamp_seconds",
            "Newest reading timestamp evaluated (Unix time)", registry=r)
        self.model_errors = Counter(
            "cityhub_analytics_model_errors", "Model steps that failed (the rules went on)",
            ["model"], registry=r)
        for model in MODELS:
            self.model_errors.labels(model)
        self.last_tick = Gauge(
            "cityhub_analytics_last_tick_timestamp_seconds",
            "When the clock-driven work (absence rules, meter scan, forecast) last completed "
            "(Unix time)", registry=r)
        self.rules = Gauge("cityhub_analytics_rules_loaded", "Enabled rules in use", registry=r)
        self.ready = Gauge(
            "cityhub_analytics_ready", "1 once caught up and listening, 0 while (re)connecting",
            registry=r)
        self.db_outages = Counter(
            "cityhub_analytics_db_outages", "Times the database connection was lost", registry=r)
        self._newest: datetime | None = None
        self._server: WSGIServer | None = None
        self._thread: Thread | None = None

    # The hooks analytics/raising.py calls (its AlertTally protocol).
    def alert_raised(self, rule_id: str) -> None:
        self.raised.labels(rule_id).inc()

    def alert_lifted(self, rule_id: str) -> None:
        self.lifted.labels(rule_id).inc()

    def readings_evaluated(self, count: int, newest: datetime | None) -> None:
        """*count* readings evaluated, the newest stamped *newest*."""
        self.readings.inc(count)
        # The newest so far, not this batch's: a device's late backlog is not analytics' lag.
        if newest is not None and (self._newest is None or newest > self._newest):
            self._newest = newest
            self.last_reading.set(newest.timestamp())
        if self._newest is not None:
            # Device clocks may run ahead (ingest accepts up to 5 minutes): no negative lag.
            self.lag.set(max(0.0, time.time() - self._newest.timestamp()))

    def model_failed(self, model: str) -> None:
        self.model_errors.labels(model).inc()

    def ticked(self) -> None:
        self.last_tick.set(time.time())

    def serve(self, host: str, port: int) -> int | None:
        """Expose /metrics on *port* (0 picks a free one); return the port, or None when it
        cannot be had — the rules matter more than their metrics, so the service goes on."""
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.error("cannot serve the analytics metrics on %s:%d (%s); running without them. "
                      "Set CITYHUB_ANALYTICS_METRICS_PORT to a free port (0: any).",
                      host, port, exc.strerror or exc)
            return None
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
