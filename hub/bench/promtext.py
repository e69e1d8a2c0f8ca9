"""A service's Prometheus /metrics page, as the benches read it."""

from __future__ import annotations

import math
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from hub.bench.histogram import Histogram


@dataclass(frozen=True, slots=True)
class Samples:
    """The samples of one page: values summed over their labels (a counter labelled by
    reason counts as one), and histogram buckets by ``le``."""

    values: Mapping[str, float]
    buckets: Mapping[str, Mapping[float, float]]  # "<name>_bucket" → le → cumulative count

    def value(self, name: str) -> float:
        return self.values.get(name, 0.0)

    def histogram(self, name: str, finite_bounds: Sequence[float]) -> Histogram:
        """Histogram *name* (without ``_bucket``) on the given bounds; missing buckets count 0."""
        counts = self.buckets.get(f"{name}_bucket", {})
        bounds = (*finite_bounds, math.inf)
        return Histogram(bounds, tuple(counts.get(b, 0.0) for b in bounds))


def parse(text: str) -> Samples:
    values: dict[str, float] = {}
    buckets: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_bucket") and "le" in sample.labels:
                le = float(sample.labels["le"])
                per_le = buckets.setdefault(sample.name, {})
                per_le[le] = per_le.get(le, 0.0) + sample.value
            else:
                values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return Samples(values, buckets)


def scrape(url: str, timeout: float = 2.0) -> Samples:
    """Raises OSError while the page does not answer."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return parse(response.read().decode("utf-8"))
