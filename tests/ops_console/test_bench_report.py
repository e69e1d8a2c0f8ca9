"""The Console section `cityhub bench console` writes: figures and the target mark."""

from __future__ import annotations

from ops_console.bench.measure import Outcome
from ops_console.bench.report import HEADING, Run, percentile, render


def _run(published: list[float], clients: int = 2, alerts: int = 2) -> Run:
    outcome = Outcome(published=published, committed=[t / 2 for t in published],
                      to_commit=[0.05] * alerts, background=7, readings_seen=[9, 11])
    return Run(clients, alerts, 5.0, "z", outcome, {"/api/v1/kpis": [0.002, 0.004]})


def test_percentile_is_nearest_rank_and_nan_when_empty() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) in (50.0, 51.0)
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN


def test_section_reports_publish_latency_and_meets_the_target() -> None:
    section = render(_run([0.08, 0.09, 0.1, 0.12]))
    assert section.startswith(HEADING + "\n")
    assert "| reading published → alert on a client, p99 (ms) | 120 | < 1000 ✓ |" in section
    assert "| zone readings messages per client (fewest–most) | 9–11 | > 0 |" in section
    assert "`GET /api/v1/kpis`" in section


def test_a_missing_delivery_or_a_slow_one_misses_the_target() -> None:
    assert "✗" in render(_run([0.08, 0.09, 0.1]))  # 3 of 4 deliveries
    assert "✗" in render(_run([0.08, 0.09, 0.1, 1.5]))
