"""The publishing engine: paces every device's turn, runs the simulator, publishes.

Devices of one kind take turns on a fixed period (their kind's interval divided by the
speed, or fleet size / --rate): after *e* wall seconds, ``e × n / period`` turns of the
*n* devices are due, handed out round-robin, so the fleet's messages spread evenly
instead of arriving in waves. A device's first turn announces it (``online``, retained);
later turns publish its reading and any events and injected faults. Everything goes
over one raw-socket connection (``publisher.Connection``); devices that will go
offline in the scenario each have their own connection with a last will.
"""

from __future__ import annotations

import logging
import resource
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from devices.sim.clock import SimClock
from devices.sim.fleet import SimDevice
from devices.sim.groundtruth import GroundTruthWriter
from devices.sim.publisher import Connection
from devices.sim.simulator import Outgoing, Simulator, topic
from hub.settings import MqttTarget

log = logging.getLogger(__name__)

_TICK_S = 0.002
_PROGRESS_EVERY_S = 0.25
_DRAIN_TIMEOUT_S = 10.0
_MAX_BACKOFF_S = 30.0


@dataclass(slots=True)
class Stats:
    devices: int
    sent: int = 0
    acked: int = 0
    online: int = 0
    truth: int = 0
    sim_time: float = 0.0
    lost: int = 0  # unacknowledged when a connection broke
    reconnects: int = 0
    cpu_seconds: float = 0.0  # of the process, when the stats were taken
    cpu_at_start: float = 0.0  # when publishing began (after imports and set-up)
    # The publishing phase, before the closing offline announcements:
    run_seconds: float = 0.0
    run_sent: int = 0
    cpu_at_stop: float = 0.0
    max_rss_bytes: int = 0
    # Why the run ended with messages unsent or unacknowledged; empty when all went well.
    error: str = ""


@dataclass(slots=True)
class _Turns:
    ids: list[str]
    period: float  # wall seconds between two turns of one device
    cursor: int = 0
    done: int = 0

    def due(self, elapsed: float) -> int:
        return int(elapsed * len(self.ids) / self.period) + 1 - self.done


@dataclass(slots=True)
class EngineOptions:
    endpoint: MqttTarget
    periods: Mapping[str, float]  # per kind
    duration: float = 0.0  # wall seconds; 0 = until stopped
    window: int = 2000
    client_prefix: str = field(default_factory=lambda: f"cityhub-sim-{secrets.token_hex(3)}")


class Engine:
    def __init__(self, sim: Simulator, fleet: Sequence[SimDevice], clock: SimClock,
                 options: EngineOptions, truth: GroundTruthWriter) -> None:
        self.sim = sim
        self.clock = clock
        self.options = options
        self.truth = truth
        self.stats = Stats(devices=len(fleet))
        self._turns = [
            _Turns([d.id for d in fleet if d.kind == kind], period)
            for kind, period in options.periods.items()
            if any(d.kind == kind for d in fleet)
        ]
        self._pending: deque[Outgoing] = deque()
        self._announced: set[str] = set()
        self._wills: dict[str, Connection] = {}
        self._bulk: Connection | None = None
        self._retry_at = 0.0
        self._backoff = 1.0
        self._acked_retired = 0  # PUBACKs counted by connections since replaced

    # -- connections ----------------------------------------------------------------------------
    def _connect_bulk(self) -> None:
        self._bulk = Connection(self.options.endpoint, f"{self.options.client_prefix}-bulk",
                                window=self.options.window)

    def _connect_will(self, device_id: str) -> None:
        conn = Connection(self.options.endpoint, f"{self.options.client_prefix}-{device_id}",
                          window=16, will_topic=topic(device_id, "status"))
        old = self._wills.get(device_id)
        if old is not None:
            self._acked_retired += old.acked
        status = self.sim.status(device_id, True)
        conn.publish(status.topic, status.payload, retain=True)
        self._wills[device_id] = conn
        self.stats.sent += 1
        self.stats.online += 1

    def _lost_bulk(self, exc: OSError) -> None:
        assert self._bulk is not None
        self.stats.lost += self._bulk.in_flight
        self._acked_retired += self._bulk.acked
        self._bulk.drop()
        self._bulk = None
        self._retry_at = time.monotonic() + self._backoff
        log.warning("simulator lost its broker connection (%s); retrying in %.0f s", exc, self._backoff)
        self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)

    def _retry_bulk(self) -> None:
        try:
            self._connect_bulk()
        except OSError as exc:
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF_S)
            log.warning("simulator cannot reconnect (%s); retrying", exc)
            return
        self._backoff = 1.0
        self.stats.reconnects += 1
        # Announce the bulk devices again (the broker may have lost retained state); devices
        # with a will connection of their own were not affected.
        again = self._announced - self._wills.keys()
        self._announced -= again
        self.stats.online -= len(again)

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event, progress: Callable[[Stats], None] | None = None) -> Stats:
        """Publish until *stop* is set or the duration has passed; then announce offline."""
        self._connect_bulk()
        for device_id in sorted(self.sim.will_devices):
            self._connect_will(device_id)
            self._announced.add(device_id)
        started = time.monotonic()
        self.stats.cpu_at_start = time.process_time()
        next_progress = started
        try:
            while not stop.is_set():
                now = time.monotonic()
                elapsed = now - started
                if self.options.duration and elapsed >= self.options.duration:
                    break
                busy = self._tick(elapsed)
                self._pump()
                if progress is not None and now >= next_progress:
                    progress(self._snapshot())
                    next_progress = now + _PROGRESS_EVERY_S
                if not busy:
                    time.sleep(_TICK_S)
            self.stats.run_seconds = time.monotonic() - started
            self.stats.run_sent = self.stats.sent
            self.stats.cpu_at_stop = time.process_time()
            self._goodbye()
        finally:
            for conn in (self._bulk, *self._wills.values()):
                if conn is not None:
                    conn.disconnect()
            self.truth.write(self.sim.truth)
            self.sim.truth.clear()
        return self._snapshot()

    def _tick(self, elapsed: float) -> bool:
        t = self.clock.at(elapsed)
        self.stats.sim_time = t
        for control in self.sim.transitions(t):
            if control.device_id not in self._wills:
                continue
            if control.action == "drop":
                self._wills[control.device_id].drop()
                self.stats.online -= 1
            else:
                try:
                    self._connect_will(control.device_id)
                except OSError as exc:
                    log.warning("device %s could not reconnect: %s", control.device_id, exc)
        if self.sim.truth:
            self.truth.write(self.sim.truth)
            self.stats.truth = self.truth.written
            self.sim.truth.clear()
        bulk = self._bulk
        if bulk is None:
            if time.monotonic() >= self._retry_at:
                self._retry_bulk()
            return False
        budget = bulk.capacity - len(self._pending)
        more = False
        for turns in self._turns:
            due = turns.due(elapsed)
            if due > budget:
                due, more = max(budget, 0), True
            budget -= due
            ids, n = turns.ids, len(turns.ids)
            for _ in range(due):
                device_id = ids[turns.cursor]
                turns.cursor = (turns.cursor + 1) % n
                turns.done += 1
                if device_id in self._announced:
                    self._pending.extend(self.sim.report(device_id, t))
                elif device_id not in self.sim.offline:
                    self._announced.add(device_id)
                    self.stats.online += 1
                    self._pending.append(self.sim.status(device_id, True))
        self._send()
        return more

    def _send(self) -> None:
        bulk = self._bulk
        if bulk is None or not self._pending:
            return
        pending, publish = self._pending, bulk.publish
        sent = 0
        while pending:
            message = pending[0]
            if not publish(message.topic, message.payload, message.retain):
                break
            pending.popleft()
            sent += 1
        self.stats.sent += sent

    def _pump(self) -> None:
        if self._bulk is not None:
            try:
                self._bulk.pump()
            except OSError as exc:
                self._lost_bulk(exc)
        for device_id, conn in self._wills.items():
            if not conn.closed:
                try:
                    conn.pump()
                except OSError as exc:
                    log.warning("device %s lost its connection: %s", device_id, exc)
                    conn.drop()

    def _goodbye(self) -> None:
        """Announce every device offline (retained) and wait for the acknowledgements."""
        for device_id in sorted(self._announced):
            conn = self._wills.get(device_id)
            if conn is not None:
                if not conn.closed:
                    status = self.sim.status(device_id, False)
                    conn.publish(status.topic, status.payload, retain=True)
                    self.stats.sent += 1
            elif device_id not in self.sim.offline:
                self._pending.append(self.sim.status(device_id, False))
        self.stats.online = 0
        deadline = time.monotonic() + _DRAIN_TIMEOUT_S
        while time.monotonic() < deadline and self._bulk is not None:
            self._send()
            self._pump()
            conns = [c for c in (self._bulk, *self._wills.values()) if c is not None and not c.closed]
            if not self._pending and all(c.idle for c in conns):
                return
            time.sleep(_TICK_S)
        unsent = len(self._pending) + sum(
            c.in_flight for c in (self._bulk, *self._wills.values()) if c is not None and not c.closed)
        if self._bulk is None:
            self.stats.error = (f"lost the broker connection and could not reconnect; {unsent} "
                                "message(s) not sent or not acknowledged")
        elif unsent:
            self.stats.error = (f"{unsent} message(s) not sent or not acknowledged within "
                                f"{_DRAIN_TIMEOUT_S:g} s at the end")

    def _snapshot(self) -> Stats:
        s = self.stats
        s.acked = self._acked_retired + sum(
            c.acked for c in (self._bulk, *self._wills.values()) if c is not None)
        s.cpu_seconds = time.process_time()
        s.max_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        s.truth = self.truth.written
        return replace(s)
