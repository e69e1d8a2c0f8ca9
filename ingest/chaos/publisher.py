"""A device fleet's publisher: numbered readings at QoS 1, with a log of every PUBACK.

One paho client (MQTT 3.1.1, persistent session, as the vendor SDK connects) publishes
for all the scenario's devices in turn. paho keeps what the broker has not
acknowledged and sends it again, with the DUP flag, after a reconnect; a reading
counts as acknowledged once its PUBACK arrived (paho's ``on_publish``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Sequence

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.chaos.counts import METRIC, Key
from ingest.chaos.errors import ChaosError
from ingest.chaos.waiting import wait_until


def reading(base_ms: int, number: int) -> bytes:
    """Reading *number* of a device: its time names it, its value is in range."""
    return json.dumps({"ts": base_ms + number, METRIC: float(number % 1000)}).encode()


class Publisher:
    def __init__(self, host: str, port: int, device_ids: Sequence[str], base_ms: int, *,
                 first: int = 0) -> None:
        self.device_ids = list(device_ids)
        self.base_ms = base_ms
        self._lock = threading.Lock()
        self._sent: list[Key | None] = []  # in publishing order; None: not a reading
        self._acked: list[bool] = []
        self._pending: dict[int, int] = {}  # packet id -> place in _sent
        self._early: set[int] = set()  # PUBACKs that came before publish() returned
        self._next = first  # the next reading's place, all devices together
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"chaos-pub-{secrets.token_hex(4)}",
                             protocol=MQTTProtocolVersion.MQTTv311, clean_session=False)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.on_connect = lambda *_: self._connected.set()
        client.on_disconnect = lambda *_: self._connected.clear()
        client.on_publish = self._on_puback
        self._client = client
        client.connect_async(host, port, keepalive=10)
        client.loop_start()
        if not self._connected.wait(15):
            self.close()
            raise ChaosError(f"the publisher could not connect to the broker on port {port}")

    # -- publishing -------------------------------------------------------------------
    def publish(self, count: int, rate: float) -> None:
        """Publish the next *count* readings at *rate* a second (devices in turn)."""
        started = time.monotonic()
        for i in range(count):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the load, not synchronising
            self.publish_one()

    def publish_one(self) -> Key:
        with self._lock:
            n = self._next
            self._next += 1
        device = self.device_ids[n % len(self.device_ids)]
        key = (device, n // len(self.device_ids))
        self._send(f"cityhub/v1/{device}/telemetry", reading(self.base_ms, key[1]), key)
        return key

    def publish_raw(self, topic: str, payload: bytes) -> None:
        """A message outside the numbered readings (malformed, poison)."""
        self._send(topic, payload, None)

    def _send(self, topic: str, payload: bytes, key: Key | None) -> None:
        # While the broker is away paho queues the message (rc NO_CONN) and sends it on
        # reconnecting; only its PUBACK counts.
        info = self._client.publish(topic, payload, qos=1)
        with self._lock:
            self._sent.append(key)
            place = len(self._sent) - 1
            early = info.mid in self._early
            self._early.discard(info.mid)
            self._acked.append(early)
            if not early:
                self._pending[info.mid] = place

    def _on_puback(self, _c: paho.Client, _u: object, mid: int, *_: object) -> None:
        with self._lock:
            place = self._pending.pop(mid, None)
            if place is None:
                self._early.add(mid)
            else:
                self._acked[place] = True

    def start(self, count: int, rate: float) -> None:
        """Publish in a thread of its own; `join` waits for the last one."""
        self._thread = threading.Thread(target=self.publish, args=(count, rate), daemon=True,
                                        name="chaos-publisher")
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise ChaosError(f"the publisher did not finish within {timeout:.0f} s")

    # -- the PUBACK log ----------------------------------------------------------------
    def published(self) -> list[Key]:
        with self._lock:
            return [key for key in self._sent if key is not None]

    def acknowledged(self) -> set[Key]:
        with self._lock:
            return {key for key, acked in zip(self._sent, self._acked, strict=True)
                    if acked and key is not None}

    def all_acknowledged(self) -> bool:
        with self._lock:
            return all(self._acked)

    def wait_acknowledged(self, timeout: float) -> None:
        wait_until(self.all_acknowledged, timeout, "the broker's PUBACK of every message")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
