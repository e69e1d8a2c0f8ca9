"""A latency histogram in Prometheus's shape, and quantiles read from it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative counts per upper bound (``le``); the last bound is +Inf."""

    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def empty(cls, finite_bounds: Sequence[float]) -> Histogram:
        bounds = (*finite_bounds, math.inf)
        return cls(bounds, (0.0,) * len(bounds))

    @property
    def count(self) -> float:
        return self.cumulative[-1] if self.cumulative else 0.0

    def minus(self, earlier: Histogram) -> Histogram:
        """Observations made since *earlier* (same bounds)."""
        if earlier.bounds != self.bounds:
            raise ValueError("Only histograms with the same buckets can be subtracted.")
        pairs = zip(self.cumulative, earlier.cumulative, strict=True)
        return Histogram(self.bounds, tuple(now - then for now, then in pairs))

    def quantile(self, q: float) -> float | None:
        """Linear interpolation inside the bucket holding rank q, as PromQL's
        ``histogram_quantile`` does; None without observations."""
        total = self.count
        if total <= 0:
            return None
        rank = q * total
        below = 0.0
        lower = 0.0
        for bound, cumulative in zip(self.bounds, self.cumulative, strict=True):
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower  # only "above the highest bound" is known
                inside = cumulative - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            below, lower = cumulative, bound
        return lower
