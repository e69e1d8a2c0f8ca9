"""analytics/metrics.py with nothing else running: its page, the compose healthcheck that reads
it, the lag it reports, and a metrics port already taken."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from analytics.metrics import AnalyticsMetrics
from hub.bench.promtext import scrape

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served() -> Iterator[tuple[AnalyticsMetrics, int]]:
    metrics = AnalyticsMetrics()
    port = metrics.serve("127.0.0.1", 0)
    assert port is not None
    try:
        yield metrics, port
    finally:
        metrics.close()


def healthcheck(port: int) -> int:
    """docker-compose.yml's healthcheck of the analytics service, against *port*."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    test = compose["services"]["analytics"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    code = test[3].replace("127.0.0.1:9107", f"127.0.0.1:{port}")
    assert code != test[3]
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30,
                          check=False).returncode


def test_the_compose_healthcheck_passes_once_ready(served: tuple[AnalyticsMetrics, int]) -> None:
    metrics, port = served
    assert healthcheck(port) != 0
    metrics.ready.set(1)
    assert healthcheck(port) == 0


def test_the_lag_follows_the_newest_reading_evaluated(served: tuple[AnalyticsMetrics, int]) -> None:
    metrics, port = served
    url = f"http://127.0.0.1:{port}/metrics"
    newest = datetime.now(UTC) - timedelta(minutes=10)
    metrics.readings_evaluated(3, newest)
    after_first = time.time()
    page = scrape(url)
    assert page.value("cityhub_analytics_readings_evaluated_total") == 3
    assert page.value("cityhub_analytics_last_reading_timestamp_seconds") == newest.timestamp()
    assert 600 <= page.value("cityhub_analytics_lag_seconds") <= after_first - newest.timestamp()
    # An older batch (a device's late backlog) leaves the newest where it was ...
    metrics.readings_evaluated(2, newest - timedelta(hours=5))
    page = scrape(url)
    assert page.value("cityhub_analytics_readings_evaluated_total") == 5
    assert page.value("cityhub_analytics_last_reading_timestamp_seconds") == newest.timestamp()
    assert page.value("cityhub_analytics_lag_seconds") < 5 * 3600
    # ... and a device clock running ahead gives no negative lag.
    metrics.readings_evaluated(1, datetime.now(UTC) + timedelta(minutes=4))
    assert scrape(url).value("cityhub_analytics_lag_seconds") == 0


def test_a_taken_port_is_logged_and_the_service_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        metrics = AnalyticsMetrics()
        with caplog.at_level(logging.ERROR, logger="analytics.metrics"):
            assert metrics.serve("127.0.0.1", port) is None
        metrics.close()
    assert f"127.0.0.1:{port}" in caplog.text
    assert "CITYHUB_ANALYTICS_METRICS_PORT" in caplog.text


def test_two_services_in_one_process_keep_their_own_figures() -> None:
    first, second = AnalyticsMetrics(), AnalyticsMetrics()
    first.alert_raised("o3-ozone-alert")
    assert second.registry.get_sample_value(
        "cityhub_analytics_alerts_raised_total", {"rule": "o3-ozone-alert"}) is None
    assert first.registry.get_sample_value(
        "cityhub_analytics_alerts_raised_total", {"rule": "o3-ozone-alert"}) == 1
