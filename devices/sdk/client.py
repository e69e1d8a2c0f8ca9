"""A device's or gateway's connection to the cityhub broker, on paho-mqtt 2.

paho's network thread only records acknowledgements and rejections; the caller's
thread does the waiting. Every publish is QoS 1 and returns once the broker's PUBACK
arrived (or raises ``PublishTimeout``). A lost connection is re-established by paho's
loop with backoff, and paho resends unacknowledged QoS 1 messages with the DUP flag
[MQTT-4.4.0-1]; the hub stores a redelivered reading once.
"""

from __future__ import annotations

import collections
import logging
import secrets
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices.sdk.errors import ConnectFailed, HubRejected, NotConnected, PublishTimeout
from devices.sdk.payloads import (
    Event,
    Reading,
    Scalar,
    Timestamp,
    chunks,
    encode,
    event_json,
    events_json,
    gateway_json,
    gateway_topic,
    parse_rejection,
    reading_json,
    topic,
)

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


class HubClient:
    """Publish one device's (or one gateway's) data to cityhub.

    >>> with HubClient("aq-jung-001", token, "broker.city.example") as hub:  # doctest: +SKIP
    ...     hub.send_reading({"pm10": 41, "pm25": 18.5})
    ...     hub.check()    # raises HubRejected if the hub refused something
    """

    def __init__(
        self,
        device_id: str,
        token: str,
        host: str = "localhost",
        port: int = 1883,
        *,
        tls: ssl.SSLContext | None = None,
        client_id: str | None = None,
        keepalive: int = 30,
        ack_timeout: float = 10.0,
        protocol: Literal["3.1.1", "5"] = "3.1.1",
        max_rejections: int = 1000,
    ) -> None:
        self.device_id = device_id
        self._status_topic = topic(device_id, "status")
        self._errors_topic = topic(device_id, "errors")
        self._host, self._port, self._keepalive = host, port, keepalive
        self.ack_timeout = ack_timeout
        self._cond = threading.Condition()
        self._acked: set[int] = set()
        self._abandoned: set[int] = set()
        self._unawaited: set[int] = set()
        self._rejections: collections.deque[HubRejected] = collections.deque(maxlen=max_rejections)
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._refusal: str | None = None
        self._closed = False
        # Set once connect() succeeded: before that, paho would queue a publish for a
        # connection that may never come.
        self._opened = False
        version = MQTTProtocolVersion.MQTTv5 if protocol == "5" else MQTTProtocolVersion.MQTTv311
        client = paho.Client(CallbackAPIVersion.VERSION2,
                             client_id=client_id or f"{device_id}-{secrets.token_hex(3)}",
                             protocol=version)
        client.username_pw_set(device_id, token)
        # The broker publishes this if the connection dies without a DISCONNECT [MQTT-3.1.2-8].
        client.will_set(self._status_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        if tls is not None:
            client.tls_set_context(tls)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    # -- paho's network thread: record, never wait ------------------------------------
    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode,
                    _p: Any) -> None:
        if reason.is_failure:
            self._refusal = str(reason)
            self._connected.set()  # wakes connect(), which reports the refusal
            return
        self._refusal = None
        client.subscribe(self._errors_topic, qos=1)
        info = client.publish(self._status_topic, ONLINE, qos=1, retain=True)
        with self._cond:
            self._unawaited.add(info.mid)
        self._connected.set()

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if not self._closed:
            log.warning("lost the connection to the broker (%s); paho reconnects", reason)

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, _r: ReasonCode, _p: Any) -> None:
        with self._cond:
            if mid in self._unawaited or mid in self._abandoned:
                self._unawaited.discard(mid)
                self._abandoned.discard(mid)
                return
            self._acked.add(mid)
            self._cond.notify_all()

    def _on_subscribe(self, _c: paho.Client, _u: Any, _m: int, reasons: list[ReasonCode],
                      _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            log.error("the broker refused the subscription to %s", self._errors_topic)
        self._subscribed.set()

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        parsed = parse_rejection(bytes(message.payload))
        if parsed is None:
            log.warning("ignored a malformed reply on %s (%d bytes)", message.topic, len(message.payload))
            return
        with self._cond:
            self._rejections.append(HubRejected(*parsed))
            self._cond.notify_all()

    # -- connection -----------------------------------------------------------------------
    def connect(self, timeout: float = 10.0) -> HubClient:
        """Connect, subscribe to the errors topic and publish ``online`` (retained)."""
        try:
            self._client.connect(self._host, self._port, self._keepalive)
        except (OSError, ValueError) as exc:
            raise ConnectFailed(f"cannot reach the broker at {self._host}:{self._port}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(timeout):
            self._stop_loop()
            raise ConnectFailed(
                f"no answer from the broker at {self._host}:{self._port} within {timeout:g} s"
            )
        if self._refusal is not None:
            self._stop_loop()
            raise ConnectFailed(
                f"the broker refused {self.device_id!r}: {self._refusal} (check the device id and token)"
            )
        if not self._subscribed.wait(timeout):
            self._stop_loop()
            raise ConnectFailed(f"the broker did not confirm the subscription to {self._errors_topic}")
        self._opened = True
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Publish ``offline`` (retained) and disconnect cleanly."""
        if self._closed:
            return
        if self._connected.is_set():
            try:
                self._publish(self._status_topic, OFFLINE, retain=True, timeout=timeout)
            except PublishTimeout:
                log.warning("no PUBACK for the offline status; the last will says it instead")
        self._closed = True
        self._client.disconnect()
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._client.loop_stop()

    def __enter__(self) -> HubClient:
        return self.connect()

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set() and self._refusal is None

    # -- publishing -----------------------------------------------------------------------
    def _publish(self, target: str, payload: bytes, *, retain: bool = False,
                 timeout: float | None = None) -> None:
        if self._closed:
            raise NotConnected("the client is closed; create a new one")
        if not self._opened:
            raise NotConnected("call connect() (or use the client in a with block) before publishing")
        info = self._client.publish(target, payload, qos=1, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            raise PublishTimeout(f"paho's outgoing queue is full; {target} was not queued")
        # NO_CONN is fine: paho keeps the message and sends it after reconnecting.
        wait = self.ack_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        with self._cond:
            while info.mid not in self._acked:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._abandoned.add(info.mid)
                    state = "connected" if self._connected.is_set() else "not connected"
                    raise PublishTimeout(
                        f"no PUBACK for {target} within {wait:g} s ({state}); paho keeps the "
                        "message and resends it after a reconnect"
                    )
                self._cond.wait(left)
            self._acked.discard(info.mid)

    def send_reading(self, values: Mapping[str, Scalar], ts: Timestamp | None = None) -> None:
        """Publish one reading; *ts* is an aware datetime or epoch ms (default: now)."""
        reading = Reading(_now_ms() if ts is None else ts, values)
        self._publish(topic(self.device_id, "telemetry"), encode(reading_json(reading)))

    def send_readings(self, readings: Sequence[Reading]) -> None:
        """Publish a batch: arrays of up to 10,000 readings per message."""
        target = topic(self.device_id, "telemetry")
        for batch in chunks(readings):
            self._publish(target, encode(batch))

    def send_event(self, event: Event) -> None:
        self._publish(topic(self.device_id, "events"), encode(event_json(event)))

    def send_events(self, events: Sequence[Event]) -> None:
        self._publish(topic(self.device_id, "events"), encode(events_json(events)))

    def send_for_devices(self, readings: Mapping[str, Sequence[Reading]]) -> None:
        """As a gateway: readings of devices registered behind it, keyed by device id."""
        self._publish(gateway_topic(self.device_id), encode(gateway_json(readings)))

    # -- rejections -------------------------------------------------------------------------
    def rejections(self) -> list[HubRejected]:
        """Every rejection received so far (and not yet taken), oldest first."""
        with self._cond:
            taken = list(self._rejections)
            self._rejections.clear()
        return taken

    def wait_for_rejection(self, timeout: float) -> HubRejected | None:
        """The next rejection, waiting up to *timeout* seconds for one to arrive."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._rejections:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._rejections.popleft()

    def check(self) -> None:
        """Raise the oldest rejection received so far (the rest stay for later calls)."""
        with self._cond:
            if self._rejections:
                raise self._rejections.popleft()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
