"""The ingest service's figures, read from its Prometheus /metrics page."""

from __future__ import annotations

import math
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from ingest.bench.histogram import Histogram
from ingest.metrics import LAG_BUCKETS

_LAG = "cityhub_ingest_commit_lag_seconds_bucket"


@dataclass(frozen=True, slots=True)
class IngestCounters:
    ready: bool
    received: int
    stored: int
    readings: int
    rejected: int
    lag: Histogram


def parse(text: str) -> IngestCounters:
    values: dict[str, float] = {}
    lag: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == _LAG:
                lag[float(sample.labels["le"])] = sample.value
            else:
                # Labelled counters (rejected by reason) are summed.
                values[sample.name] = values.get(sample.name, 0.0) + sample.value
    bounds = (*LAG_BUCKETS, math.inf)
    return IngestCounters(
        ready=values.get("cityhub_ingest_ready", 0.0) == 1.0,
        received=int(values.get("cityhub_ingest_received_total", 0.0)),
        stored=int(values.get("cityhub_ingest_stored_total", 0.0)),
        readings=int(values.get("cityhub_ingest_readings_stored_total", 0.0)),
        rejected=int(values.get("cityhub_ingest_rejected_total", 0.0)),
        lag=Histogram(bounds, tuple(lag.get(b, 0.0) for b in bounds)),
    )


def scrape(url: str, timeout: float = 2.0) -> IngestCounters:
    """Raises OSError while the page does not answer."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return parse(response.read().decode("utf-8"))
