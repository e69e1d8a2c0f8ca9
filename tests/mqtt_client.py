"""A device's side of MQTT, for tests: publish and wait for PUBACK; collect replies."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.fix_mqtt import Broker


class Device:
    """An MQTT 3.1.1 client; anonymous unless given a username (a device id or an account)."""

    def __init__(self, broker: Broker, client_id: str | None = None, *,
                 username: str | None = None, password: str | None = None) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"test-dev-{secrets.token_hex(4)}")
        if username is not None:
            self.client.username_pw_set(username, password)
        self.received: list[tuple[str, bytes]] = []
        self.connack: ReasonCode | None = None
        self.connack_received = threading.Event()
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_connect(self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connack = reason
        self.connack_received.set()

    @property
    def accepted(self) -> bool:
        """Did the broker accept the login (after the CONNACK)?"""
        return self.connack is not None and not self.connack.is_failure

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_: done.set()
        self.client.subscribe(topic, qos=1)
        assert done.wait(10), "no SUBACK"

    def publish(self, topic: str, payload: bytes | str | dict[str, Any] | list[Any]) -> None:
        if isinstance(payload, dict | list):
            payload = json.dumps(payload)
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published(), f"no PUBACK for {topic}"

    def replies(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(t, json.loads(p)) for t, p in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def device(broker: Broker) -> Iterator[Device]:
    client = Device(broker)
    try:
        yield client
    finally:
        client.close()


def logged_in(broker: Broker, username: str | None, password: str | None) -> Device:
    """A client whose CONNACK has arrived: see `accepted` for the broker's answer."""
    client = Device(broker, username=username, password=password)
    if not client.connack_received.wait(10):
        client.close()
        raise AssertionError("no CONNACK")
    return client


def login(broker: Broker, username: str | None, password: str | None) -> bool:
    """Does the broker accept this login? (connects, reads the CONNACK, disconnects)"""
    client = logged_in(broker, username, password)
    try:
        return client.accepted
    finally:
        client.close()
