"""`cityhub bench ingest` (being written)."""

from __future__ import annotations


def bench_ingest() -> None:
    """Measure ingest throughput, latency and CPU per message."""
    raise SystemExit("not yet")
