"""The ingest service's figures, read from its Prometheus /metrics page (ingest/metrics.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.bench import promtext
from hub.bench.histogram import Histogram
from ingest.metrics import LAG_BUCKETS


@dataclass(frozen=True, slots=True)
class IngestCounters:
    ready: bool
    received: int
    stored: int
    readings: int
    rejected: int
    lag: Histogram


def counters(samples: promtext.Samples) -> IngestCounters:
    return IngestCounters(
        ready=samples.value("cityhub_ingest_ready") == 1.0,
        received=int(samples.value("cityhub_ingest_received_total")),
        stored=int(samples.value("cityhub_ingest_stored_total")),
        readings=int(samples.value("cityhub_ingest_readings_stored_total")),
        rejected=int(samples.value("cityhub_ingest_rejected_total")),
        lag=samples.histogram("cityhub_ingest_commit_lag_seconds", LAG_BUCKETS),
    )


def parse(text: str) -> IngestCounters:
    return counters(promtext.parse(text))


def scrape(url: str, timeout: float = 2.0) -> IngestCounters:
    """Raises OSError while the page does not answer."""
    return counters(promtext.scrape(url, timeout))


def combined(parts: Sequence[IngestCounters]) -> IngestCounters:
    """The figures of several workers as one: counts added, ready when all are."""
    if not parts:
        raise ValueError("no workers' figures to combine")
    bounds = parts[0].lag.bounds
    cumulative = tuple(sum(p.lag.cumulative[i] for p in parts) for i in range(len(bounds)))
    return IngestCounters(
        ready=all(p.ready for p in parts),
        received=sum(p.received for p in parts),
        stored=sum(p.stored for p in parts),
        readings=sum(p.readings for p in parts),
        rejected=sum(p.rejected for p in parts),
        lag=Histogram(bounds, cumulative),
    )
