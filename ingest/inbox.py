"""The hand-over between paho's network thread and the batch writer.

The broker never sends more unacknowledged QoS 1 messages than our MQTT 5 Receive
Maximum, and we acknowledge only after commit, so the inbox never holds more than
that many live messages. Its capacity is set above it; if it is ever full anyway,
``put`` blocks the network thread (back-pressure through TCP) and counts the event.
"""

from __future__ import annotations

import threading
from collections import deque

from ingest.messages import Incoming


class Inbox:
    def __init__(self, capacity: int) -> None:
        self._items: deque[Incoming] = deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        # The reader is woken only when this many items wait, not on every put:
        # a wake-up per message would cost a thread switch per message.
        self._wake_at = 1
        self.full_waits = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Incoming) -> None:
        with self._lock:
            if len(self._items) >= self._capacity:
                self.full_waits += 1
                while len(self._items) >= self._capacity:
                    self._not_full.wait()
            self._items.append(item)
            if len(self._items) >= self._wake_at:
                self._not_empty.notify()

    def drain(self, limit: int, first_wait: float, linger: float) -> list[Incoming]:
        """Up to *limit* items: wait *first_wait* for the first, then up to *linger*
        seconds more unless *limit* items arrive sooner."""
        with self._lock:
            if not self._items:
                self._wake_at = 1
                self._not_empty.wait(first_wait)
                if not self._items:
                    return []
            if linger > 0 and len(self._items) < limit:
                self._wake_at = limit
                self._not_empty.wait(linger)
                self._wake_at = 1
            take = min(limit, len(self._items))
            popleft = self._items.popleft
            out = [popleft() for _ in range(take)]
            self._not_full.notify_all()
        return out

    def discard_older_than(self, generation: int) -> int:
        """Drop messages of an earlier broker connection; the broker redelivers them."""
        with self._lock:
            before = len(self._items)
            self._items = deque(m for m in self._items if m.generation >= generation)
            self._not_full.notify_all()
            return before - len(self._items)
