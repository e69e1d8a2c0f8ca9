"""A client's bounded outgoing queue: coalesces when behind, reports overflow, resumes.

Pure logic, no I/O: the fan-out puts into it without ever waiting, the client's own
sender task takes from it. A message with a key replaces (or merges into) a pending
message of the same key, so a client that cannot keep up with readings and device
status gets the latest value of each instead of a growing backlog. Alert changes are
never dropped: when more than ``limit`` messages are pending the queue reports an
overflow and the caller disconnects the client, which resumes from its last seq.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from ops_console.live.messages import Key, Message, merge


class ClientQueue:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._order: deque[Message | Key] = deque()
        self._latest: dict[Key, Message] = {}
        self._held: list[Message] | None = None
        self.coalesced = 0
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._order)

    def put(self, message: Message) -> bool:
        """Queue *message*; False once more than ``limit`` messages are pending."""
        if self.overflowed:
            return False
        if self._held is not None and message.seq is not None:
            self._held.append(message)
            return self._check()
        key = message.key
        if key is None:
            self._order.append(message)
        elif key in self._latest:
            self._latest[key] = merge(self._latest[key], message)
            self.coalesced += 1
        else:
            self._latest[key] = message
            self._order.append(key)
        return self._check()

    def _check(self) -> bool:
        if len(self._order) + len(self._held or ()) > self.limit:
            self.overflowed = True
        return not self.overflowed

    def take(self, most: int = 1_000_000) -> list[Message]:
        """Up to *most* pending messages, oldest first."""
        out: list[Message] = []
        while self._order and len(out) < most:
            item = self._order.popleft()
            if isinstance(item, Message):
                out.append(item)
            else:
                out.append(self._latest.pop(item))
        return out

    def begin_resume(self) -> None:
        """Hold live alert changes until the backlog from the database is queued."""
        self._held = []

    @property
    def resuming(self) -> bool:
        return self._held is not None

    def finish_resume(self, backlog: Iterable[Message]) -> bool:
        """Queue *backlog* (changes after the client's seq), then the held live changes
        that the backlog did not already contain: no gap, no duplicate."""
        held, self._held = self._held or [], None
        seen: set[int] = set()
        ok = True
        for message in backlog:
            if message.seq is not None:
                seen.add(message.seq)
            ok = self.put(message) and ok
        for message in held:
            if message.seq not in seen:
                ok = self.put(message) and ok
        return ok
