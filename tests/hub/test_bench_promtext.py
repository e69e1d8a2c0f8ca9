"""The benches' reading of a /metrics page (hub/bench/promtext.py and ingest's counters). Pure."""

from __future__ import annotations

import math

import pytest

from hub.bench.promtext import parse
from ingest.bench.promtext import parse as parse_ingest
from ingest.metrics import LAG_BUCKETS

PAGE = """\
# HELP cityhub_ingest_ready 1 once subscribed and consuming
# TYPE cityhub_ingest_ready gauge
cityhub_ingest_ready 1.0
# HELP cityhub_ingest_rejected_total rejected messages
# TYPE cityhub_ingest_rejected_total counter
cityhub_ingest_rejected_total{reason="bad_value"} 2.0
cityhub_ingest_rejected_total{reason="malformed_json"} 3.0
# HELP cityhub_ingest_commit_lag_seconds publish to commit
# TYPE cityhub_ingest_commit_lag_seconds histogram
cityhub_ingest_commit_lag_seconds_bucket{le="0.005"} 1.0
cityhub_ingest_commit_lag_seconds_bucket{le="0.01"} 4.0
cityhub_ingest_commit_lag_seconds_bucket{le="+Inf"} 4.0
cityhub_ingest_commit_lag_seconds_count 4.0
cityhub_ingest_commit_lag_seconds_sum 0.02
"""


def test_labelled_samples_are_summed_and_buckets_kept_by_bound() -> None:
    samples = parse(PAGE)
    assert samples.value("cityhub_ingest_rejected_total") == 5.0
    assert samples.value("not_on_the_page") == 0.0
    lag = samples.histogram("cityhub_ingest_commit_lag_seconds", (0.005, 0.01))
    assert lag.bounds == (0.005, 0.01, math.inf)
    assert lag.cumulative == (1.0, 4.0, 4.0)
    assert lag.quantile(0.5) == pytest.approx(0.005 + 0.005 / 3)


def test_ingest_counters_come_from_its_page() -> None:
    counters = parse_ingest(PAGE)
    assert counters.ready
    assert counters.rejected == 5
    assert counters.lag.bounds == (*LAG_BUCKETS, math.inf)
    assert counters.lag.count == 4.0
