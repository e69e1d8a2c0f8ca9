"""Prometheus metrics of the console: requests by route and status, and their latency.

Each app has its own registry (``app.state.metrics_registry``), so several apps in
one process (tests) never clash; ``/metrics`` serves it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def new_registry() -> CollectorRegistry:
    return CollectorRegistry()


class RequestMetrics:
    """Requests answered, by method, route template and status, and their latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("cityhub_console_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=registry)
        self.latency = Histogram("cityhub_console_request_seconds", "Time to answer a request",
                                 ["route"], registry=registry)

    def count(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def recorder(self, method: str, route: str, status: int) -> Callable[[float], None]:
        """:meth:`count` for one set of labels, looked up once: a hot route keeps it."""
        requests, latency = self.requests.labels(method, route, str(status)), self.latency.labels(route)

        def record(seconds: float) -> None:
            requests.inc()
            latency.observe(seconds)

        return record


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The route template, not the path, keeps label values bounded.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.count(scope["method"], route, status[0], time.monotonic() - started)


class LiveFigures(Protocol):
    """What the live view's fan-out (ops_console/live/fanout.py) tells about itself."""

    @property
    def connected(self) -> int: ...
    published: int
    disconnected_slow: int


class LiveViewCollector(Collector):
    """The live view's figures, read from its fan-out at each scrape (none before the app's
    lifespan has started it)."""

    def __init__(self, fanout: Callable[[], LiveFigures | None]) -> None:
        self._fanout = fanout

    def collect(self) -> Iterator[Metric]:
        fanout = self._fanout()
        yield GaugeMetricFamily("cityhub_console_ws_clients", "Live-view WebSocket clients connected",
                                value=fanout.connected if fanout is not None else 0)
        yield CounterMetricFamily("cityhub_console_ws_messages", "Live-view messages fanned out",
                                  value=fanout.published if fanout is not None else 0)
        yield CounterMetricFamily("cityhub_console_ws_disconnected_slow",
                                  "Live-view clients disconnected for not reading fast enough",
                                  value=fanout.disconnected_slow if fanout is not None else 0)
