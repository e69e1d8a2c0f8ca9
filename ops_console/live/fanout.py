"""The fan-out: hands every message to the queues of the clients that want it.

``publish`` never awaits: it puts into each client's bounded queue and wakes the
client's own sender task, so one slow client never delays the others. A client whose
queue overflows is marked to be closed (its sender closes the socket with
``CLOSE_TOO_SLOW``) and resumes from its last alert seq when it reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from ops_console.live.messages import Message
from ops_console.live.queue import ClientQueue

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 4008
CLOSE_TOKEN_EXPIRED = 4001
CLOSE_SHUTDOWN = 1001

_ids = itertools.count(1)


@dataclass(eq=False)
class Client:
    """One WebSocket connection's share of the fan-out."""

    username: str
    queue: ClientQueue
    channels: frozenset[str] = frozenset()
    id: int = field(default_factory=lambda: next(_ids))
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    close_reason: str = ""

    def wants(self, message: Message) -> bool:
        return any(route in self.channels for route in message.routes)

    def offer(self, message: Message) -> None:
        if self.close_code is not None:
            return
        if not self.queue.put(message):
            self._too_slow()
        self.wake.set()

    def finish_resume(self, backlog: Iterable[Message]) -> None:
        """Queue the alert changes read for a resume, then the live ones held meanwhile."""
        if not self.queue.finish_resume(backlog):
            self._too_slow()
        self.wake.set()

    def _too_slow(self) -> None:
        self.close(CLOSE_TOO_SLOW, f"too slow: more than {self.queue.limit} messages pending; "
                                  "reconnect with since_seq to resume")
        log.warning("live: disconnecting slow client %s (%s)", self.id, self.username)

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.wake.set()


class FanOut:
    def __init__(self, queue_limit: int) -> None:
        self.queue_limit = queue_limit
        self.clients: set[Client] = set()
        self.published = 0
        self.disconnected_slow = 0

    def add(self, username: str) -> Client:
        client = Client(username, ClientQueue(self.queue_limit))
        self.clients.add(client)
        return client

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        if client.close_code == CLOSE_TOO_SLOW:
            self.disconnected_slow += 1

    def publish(self, message: Message) -> int:
        """Offer *message* to every client subscribed to one of its routes; how many."""
        self.published += 1
        n = 0
        for client in list(self.clients):
            if client.wants(message):
                client.offer(message)
                n += 1
        return n

    @property
    def connected(self) -> int:
        return len(self.clients)

    def wanted_routes(self) -> set[str]:
        """Every channel some client is subscribed to (to skip work nobody wants)."""
        out: set[str] = set()
        for client in self.clients:
            out |= client.channels
        return out

    def close_all(self, code: int, reason: str) -> None:
        for client in list(self.clients):
            client.close(code, reason)

    @property
    def coalesced(self) -> int:
        return sum(c.queue.coalesced for c in self.clients)
