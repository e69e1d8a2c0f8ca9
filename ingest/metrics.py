"""Prometheus metrics of one ingest process (own registry: no global state)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5,
               2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class IngestMetrics:
    def __init__(self, backlog: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("cityhub_ingest_received", "MQTT messages received", registry=r)
        self.stored = Counter("cityhub_ingest_stored", "Messages committed to the hub", registry=r)
        self.readings = Counter(
            "cityhub_ingest_readings_stored", "Telemetry data points committed", registry=r
        )
        self.rejected = Counter(
            "cityhub_ingest_rejected", "Messages sent to the dead letters", ["reason"], registry=r
        )
        self.dead_letters_lost = Counter(
            "cityhub_ingest_dead_letters_lost",
            "Rejected messages acknowledged although even a minimal dead letter was refused",
            ["reason"], registry=r,
        )
        self.batch_seconds = Histogram(
            "cityhub_ingest_batch_seconds", "Time to validate and commit one batch", registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.lag = Histogram(
            "cityhub_ingest_commit_lag_seconds",
            "From a reading's own timestamp to the commit that stored it", registry=r,
            buckets=LAG_BUCKETS,
        )
        self.db_outages = Counter(
            "cityhub_ingest_db_outages", "Times the database became unreachable", registry=r
        )
        self.db_up = Gauge("cityhub_ingest_db_up", "1 while the database answers", registry=r)
        self.ready = Gauge(
            "cityhub_ingest_ready", "1 while subscribed to the broker and consuming", registry=r
        )
        self.backlog = Gauge(
            "cityhub_ingest_backlog", "Messages received but not yet committed", registry=r
        )
        self.backlog.set_function(backlog)

    def serve(self, host: str, port: int) -> int:
        """Expose /metrics on *port* (0 picks a free one); return the port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_port)
