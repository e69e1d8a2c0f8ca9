"""Waiting out the database: retry an action with backoff, and keep the outage metrics.

Shared by ingest's planner (device lookups) and its writers (commits), which must all
agree on whether the database is up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from hub.errors import DatabaseUnavailable
from ingest.errors import WriteConflict
from ingest.metrics import IngestMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 0.5
    cap: float = 10.0

    def delays(self) -> Callable[[], float]:
        state = {"next": self.first}

        def step() -> float:
            delay = state["next"]
            state["next"] = min(self.cap, delay * 2)
            return delay

        return step


class Retrier:
    def __init__(self, metrics: IngestMetrics, stop: threading.Event, backoff: Backoff) -> None:
        self._metrics = metrics
        self._stop = stop
        self._backoff = backoff
        self._lock = threading.Lock()
        self._db_up = True

    def until_done(self, action: Callable[[], None]) -> bool:
        """Run *action* until it succeeds; False if asked to stop first."""
        delay = self._backoff.delays()
        while True:
            try:
                action()
            except WriteConflict as exc:
                # Another writer holds rows this batch needs; the database is fine.
                log.info("%s; retrying", exc)
                if self._stop.wait(delay()):
                    return False
                continue
            except DatabaseUnavailable as exc:
                self._down(exc)
                if self._stop.wait(delay()):
                    return False
                continue
            self._up()
            return True

    def _down(self, exc: DatabaseUnavailable) -> None:
        with self._lock:
            if not self._db_up:
                return
            self._db_up = False
            self._metrics.db_up.set(0)
            self._metrics.db_outages.inc()
        log.warning("%s; holding acknowledgements and retrying", exc)

    def _up(self) -> None:
        with self._lock:
            if self._db_up:
                return
            self._db_up = True
            self._metrics.db_up.set(1)
        log.info("the database is back; resuming")
