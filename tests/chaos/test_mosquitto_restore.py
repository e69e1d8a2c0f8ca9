"""What this machine's Mosquitto restores from its store after a crash: a persistent
session with its queue and its plain subscriptions, but not its shared subscriptions.

docs/chaos.md and ingest's reconnect delay rest on this. If a Mosquitto release restores
shared subscriptions, this test fails: the docs' bound can then go.
"""

from __future__ import annotations

import queue
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.chaos.broker import BrokerLimits, PrivateBroker
from ingest.chaos.errors import Unsupported

pytestmark = [pytest.mark.integration]

WAIT_S = 10


class Session:
    """A persistent MQTT 5 session whose deliveries land in a queue."""

    def __init__(self, broker: PrivateBroker, client_id: str) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.acks: queue.Queue[str] = queue.Queue()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=MQTTProtocolVersion.MQTTv5)
        client.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        client.on_connect = lambda _c, _u, flags, _r, _p: self.acks.put(
            f"connack present={flags.session_present}")
        client.on_subscribe = lambda *_: self.acks.put("suback")
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        client.connect(broker.host, broker.port, clean_start=False, properties=props)
        client.loop_start()
        self.client = client
        self.connack = self.acks.get(timeout=WAIT_S)

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        assert self.acks.get(timeout=WAIT_S) == "suback"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def session(broker: PrivateBroker, client_id: str) -> Iterator[Session]:
    s = Session(broker, client_id)
    try:
        yield s
    finally:
        s.close()


def publish(broker: PrivateBroker, topic: str, payload: bytes) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{secrets.token_hex(3)}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(WAIT_S)
    finally:
        client.disconnect()
        client.loop_stop()


def received_before_marker(s: Session, broker: PrivateBroker) -> list[bytes]:
    """What the session is delivered up to a marker published after it subscribed to it:
    the broker sends a session's queue first, so anything not in the list never comes."""
    marker = f"marker/{secrets.token_hex(3)}"
    s.subscribe(marker)
    publish(broker, marker, b"marker")
    got = []
    while (message := s.messages.get(timeout=WAIT_S))[0] != marker:
        got.append(message[1])
    return got


def test_a_restarted_mosquitto_keeps_plain_subscriptions_but_not_shared_ones(chaos_dir: Path) -> None:
    try:
        broker = PrivateBroker(chaos_dir / f"restore-{secrets.token_hex(3)}",
                               BrokerLimits(persistence=True, autosave_interval=3600))
    except Unsupported as exc:
        pytest.skip(str(exc))
    broker.start()
    try:
        with session(broker, "plain") as plain, session(broker, "shared") as shared:
            plain.subscribe("city/t")
            shared.subscribe("$share/g/city/t")
        publish(broker, "city/t", b"queued before the save")
        broker.save()
        broker.kill()
        broker.start()
        publish(broker, "city/t", b"after the restart")
        with session(broker, "plain") as plain, session(broker, "shared") as shared:
            assert plain.connack == shared.connack == "connack present=True"
            assert received_before_marker(plain, broker) == [
                b"queued before the save", b"after the restart"]
            # The session and its queue survive; its shared subscription does not.
            assert received_before_marker(shared, broker) == [b"queued before the save"]
    finally:
        broker.stop()
