"""Waiting on a condition with a deadline: the scenarios' only way to synchronise."""

from __future__ import annotations

import time
from collections.abc import Callable

from ingest.chaos.errors import ChaosError

POLL_S = 0.05


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    """Poll *check* until it returns something truthy; ChaosError after *timeout* s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ChaosError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL_S)
