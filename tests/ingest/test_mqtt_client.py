"""BufferedClient against a real Mosquitto: every message arrives whole, whatever its
size or properties, and what ack_many acknowledged is not delivered again after a
reconnect, while what it did not acknowledge is."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from ingest.mqtt_client import READ_SIZE, BufferedClient, private_hooks
from tests.fix_mqtt import Broker
from tests.waiting import wait_for

V5 = MQTTProtocolVersion.MQTTv5
V311 = MQTTProtocolVersion.MQTTv311


def test_the_paho_internals_it_relies_on_are_there() -> None:
    client = BufferedClient(client_id="hooks", protocol=V5, on_qos1=lambda *_: None,
                            manual_ack=True)
    assert client.connection == 0
    missing = [name for name in private_hooks() if not hasattr(client, name)]
    assert missing == [], f"paho-mqtt no longer has {missing}; see ingest/mqtt_client.py"
    assert {"command", "packet"} <= set(client._in_packet)


class _Collector:
    """A consumer on BufferedClient that records (topic, payload, mid) per delivery."""

    def __init__(self, broker: Broker, protocol: MQTTProtocolVersion, client_id: str) -> None:
        self.got: list[tuple[str, bytes, int]] = []
        self.paho_path = 0
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        v5 = protocol == V5
        self.client = BufferedClient(
            client_id=client_id, protocol=protocol, on_qos1=self._fast, manual_ack=True,
            clean_session=None if v5 else False,
        )
        self.client.on_message = self._slow
        self.client.on_connect = self._connected
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 300
        if v5:
            self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        else:
            self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "no SUBACK"

    def _connected(self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode,
                   _p: Any) -> None:
        assert not reason.is_failure
        client.subscribe("bt/#", qos=1)

    def _fast(self, topic: str, payload: bytes, mid: int, connection: int,
              _arrived: float) -> None:
        assert connection == self.client.connection
        with self._lock:
            self.got.append((topic, payload, mid))

    def _slow(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.paho_path += 1
            self.got.append((msg.topic, bytes(msg.payload), msg.mid))

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [p for _, p, _ in self.got]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def collector(broker: Broker, protocol: MQTTProtocolVersion, client_id: str) -> Iterator[_Collector]:
    c = _Collector(broker, protocol, client_id)
    try:
        yield c
    finally:
        c.close()


def _publish_all(broker: Broker, messages: list[tuple[str, bytes, bool]]) -> None:
    """Publish at QoS 1 over MQTT 5, with a user property where the flag says so."""
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bt-pub-{secrets.token_hex(3)}",
                      protocol=V5)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    try:
        infos = []
        for topic, payload, with_props in messages:
            props = None
            if with_props:
                props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                props.UserProperty = ("vendor", "acme")
            infos.append(pub.publish(topic, payload, qos=1, properties=props))
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        pub.disconnect()
        pub.loop_stop()


@pytest.mark.integration
@pytest.mark.parametrize("protocol", [V5, V311], ids=["mqtt5", "mqtt311"])
def test_every_message_arrives_whole_and_only_the_unacknowledged_come_back(
    broker: Broker, protocol: MQTTProtocolVersion,
) -> None:
    client_id = f"bt-sub-{secrets.token_hex(3)}"
    prefix = f"bt/{secrets.token_hex(3)}"
    # Small messages, one larger than a whole read, UTF-8 topics, and some with properties.
    messages = [(f"{prefix}/서울/{i}", f"reading {i}".encode() * (1 + i % 5), i % 7 == 0)
                for i in range(600)]
    messages.insert(300, (f"{prefix}/big", secrets.token_bytes(READ_SIZE + 4321), False))
    expected = [p for _, p, _ in messages]

    with collector(broker, protocol, client_id) as first:
        _publish_all(broker, messages)
        wait_for(lambda: len(first.got) >= len(messages), what="every message", timeout=20)
        assert first.payloads() == expected
        assert [t for t, _, _ in first.got] == [t for t, _, _ in messages]
        if protocol == V5:
            assert first.paho_path == sum(1 for *_, props in messages if props)
        else:
            assert first.paho_path == 0
        acked = [mid for _, _, mid in first.got[:400]]
        now = first.client.connection
        # Packet ids of an earlier connection are refused, and nothing is sent.
        assert first.client.ack_many(acked, now - 1) == MQTTErrorCode.MQTT_ERR_NO_CONN
        assert first.client.ack_many(acked, now) == MQTTErrorCode.MQTT_ERR_SUCCESS
        # The broker has the PUBACKs once it answers a later request on the connection.
        done = threading.Event()
        first.client.on_subscribe = lambda *_: done.set()
        first.client.subscribe("bt-sync/none", qos=1)
        assert done.wait(10), "no SUBACK after the PUBACKs"

    with collector(broker, protocol, client_id) as second:
        # Published after the reconnect, so it arrives after every redelivery.
        _publish_all(broker, [(f"{prefix}/end", b"end", False)])
        wait_for(lambda: b"end" in second.payloads(), what="the redelivery", timeout=20)
        assert sorted(second.payloads()) == sorted([*expected[400:], b"end"])
        assert second.client.connection == 1
        second.client.ack_many([mid for _, _, mid in second.got], second.client.connection)
