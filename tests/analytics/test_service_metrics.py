"""The analytics service's Prometheus page, scraped over HTTP while it raises real alerts
from readings published through the broker and stored by ingest."""

from __future__ import annotations

import re
import secrets
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.catalogue import Catalogue
from tests.fix_analytics import AnalyticsProcess
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, new_device
from tests.mqtt_client import device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

Page = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Page:
    """Every sample of the page by (name, labels)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode("utf-8")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(page: Page, name: str, **labels: str) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def service(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running `cityhub analytics` on a free metrics port; yields its metrics URL."""
    process = AnalyticsProcess(database_url, Path(tmp_path_factory.mktemp("metrics")) / "analytics.log")
    process.env["CITYHUB_ANALYTICS_METRICS_PORT"] = "0"  # the port it picks is in its log
    process.start()
    try:
        found = re.search(r"analytics metrics on (http://\S+/metrics)", process.log())
        assert found, process.log()
        yield found.group(1)
    finally:
        process.stop()


def alert_rows(db: Conn, device_id: str) -> list[tuple[object, ...]]:
    return db.execute("SELECT rule_id, count, state, outcome FROM hub.alerts WHERE device_id = %s "
                      "ORDER BY id", (device_id,)).fetchall()


def wait_rows(db: Conn, device_id: str, expected: list[tuple[object, ...]], what: str) -> None:
    wait_for(lambda: alert_rows(db, device_id) == expected, what=what)


def test_readings_that_raise_repeat_and_lift_an_alert_move_the_counters(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess, service: str,
) -> None:
    station = new_device(db, catalogue, "air_quality", zone=f"zone-{secrets.token_hex(4)}")
    before = scrape(service)
    assert value(before, "cityhub_analytics_ready") == 1.0
    # Stamped in the past (whole milliseconds, as stored), so the lag has something to measure.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    # The zone's hourly ozone mean: 0.15 opens the advisory, 0.15 again repeats it, and a
    # 0.0 brings the mean to 0.1, under its 0.12 lifting point.
    steps: list[tuple[float, list[tuple[object, ...]]]] = [
        (0.15, [("o3-ozone-alert", 1, "open", None)]),
        (0.15, [("o3-ozone-alert", 2, "open", None)]),
        (0.0, [("o3-ozone-alert", 2, "resolved", "cleared")]),
    ]
    with device(broker) as client:
        for minute, (o3, expected) in enumerate(steps):
            ts = start + timedelta(minutes=minute)
            client.publish(f"cityhub/v1/{station}/telemetry", {"ts": ts.isoformat(), "o3": o3})
            wait_rows(db, station, expected, f"the alert after the reading of {o3}")
    newest = start + timedelta(minutes=len(steps) - 1)

    after = scrape(service)
    scraped_at = time.time()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("cityhub_analytics_readings_evaluated_total") >= len(steps)
    # One alert was opened (the repeat is not a second one) and the rule lifted it.
    assert moved("cityhub_analytics_alerts_raised_total", rule="o3-ozone-alert") == 1
    assert moved("cityhub_analytics_alerts_lifted_total", rule="o3-ozone-alert") == 1
    # The newest reading evaluated is ours or, from other tests' rows, a newer one; the lag
    # was taken when it was evaluated, so it is no longer than our reading's age now.
    assert value(after, "cityhub_analytics_last_reading_timestamp_seconds") >= newest.timestamp()
    lag = value(after, "cityhub_analytics_lag_seconds")
    assert 0 <= lag <= scraped_at - newest.timestamp()
    rules = db.execute("SELECT count(*) FROM hub.rules WHERE enabled").fetchone()
    assert rules is not None
    assert value(after, "cityhub_analytics_rules_loaded") == rules[0]
    # Labels are rules and models, never devices or zones.
    labels = {v for (_, pairs) in after for _, v in pairs}
    assert station not in labels
    assert not any(v.startswith("zone-") for v in labels)


def test_a_published_fire_event_counts_as_an_event_and_an_alert_of_its_rule(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess, service: str,
) -> None:
    camera = new_device(db, catalogue, "cctv", zone="jongno-gu")
    before = scrape(service)
    with device(broker) as client:
        client.publish(f"cityhub/v1/{camera}/events",
                       {"ts": datetime.now(UTC).isoformat(), "type": "fire", "confidence": 0.93})
    wait_for(lambda: alert_rows(db, camera) == [("cctv-fire:fire", 1, "open", None)],
             what="the fire alert")
    after = scrape(service)
    assert (value(after, "cityhub_analytics_events_evaluated_total")
            - value(before, "cityhub_analytics_events_evaluated_total")) >= 1
    assert (value(after, "cityhub_analytics_alerts_raised_total", rule="cctv-fire:fire")
            - value(before, "cityhub_analytics_alerts_raised_total", rule="cctv-fire:fire")) == 1


def test_the_clock_driven_work_reports_its_last_run_and_models_have_no_errors(service: str) -> None:
    # The first tick comes TICK_S (5 s) after the catch-up; it loads the models and scans every
    # meter the run's earlier tests stored, which takes a while on a loaded machine.
    wait_for(lambda: value(scrape(service), "cityhub_analytics_last_tick_timestamp_seconds") > 0,
             timeout=90, what="the first tick")
    page = scrape(service)
    assert value(page, "cityhub_analytics_last_tick_timestamp_seconds") <= time.time()
    for model in ("sensor_fault", "meter_scan", "forecast"):
        assert ("cityhub_analytics_model_errors_total", (("model", model),)) in page
        assert value(page, "cityhub_analytics_model_errors_total", model=model) == 0
