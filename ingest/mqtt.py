"""The paho-mqtt edge of ingest.

paho's network thread only wraps each message in an ``Incoming`` and puts it in the
inbox. Acknowledgements are manual: the batch writer calls ``ack_many`` after commit.
The client is ``BufferedClient`` (ingest/mqtt_client.py): paho with cheaper reads,
PUBLISH decoding and PUBACKs.
The session is persistent (MQTT 5 clean start off, long session expiry), so what
was delivered but not acknowledged when we crash is sent again on reconnect
[MQTT-4.4.0-1].
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.settings import MqttTarget
from ingest.errors import BrokerError
from ingest.inbox import Inbox
from ingest.messages import Incoming
from ingest.mqtt_client import BufferedClient
from ingest.topics import subscriptions

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
RECONNECT_MAX_DELAY_S = 1


class MqttConsumer:
    def __init__(
        self,
        target: MqttTarget,
        inbox: Inbox,
        *,
        client_id: str,
        shared_group: str,
        receive_maximum: int,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    ) -> None:
        self._target = target
        self._inbox = inbox
        self._filters = subscriptions(shared_group)
        self._receive_maximum = receive_maximum
        self._protocol = protocol
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.disconnects = 0
        client = BufferedClient(
            client_id=client_id,
            protocol=protocol,
            on_qos1=self._on_qos1,
            manual_ack=True,
            clean_session=False if protocol != MQTTProtocolVersion.MQTTv5 else None,
        )
        if target.username is not None:
            client.username_pw_set(target.username, target.password)
        # Every second, without backing off: Mosquitto 2.0 restores a persistent session but
        # not its shared subscriptions, so what devices publish after a broker restart and
        # before ingest subscribes again is dropped (docs/chaos.md). Devices back off from
        # 1 s, so ingest is usually first; an attempt a second costs the broker nothing.
        client.reconnect_delay_set(min_delay=1, max_delay=RECONNECT_MAX_DELAY_S)
        # Error replies to devices are QoS 1; let many be in flight during a storm.
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(100_000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client

    # -- paho's thread ----------------------------------------------------------
    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("the broker refused the ingest connection: %s", reason)
            return
        options = SubscribeOptions(qos=1)
        if self._protocol == MQTTProtocolVersion.MQTTv5:
            client.subscribe([(f, options) for f in self._filters])
        else:
            client.subscribe([(f, 1) for f in self._filters])
        log.info("connected to the broker (connection %d)", self.generation)
        self.connected.set()

    def _on_subscribe(
        self, _client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode],
        _props: Properties | None,
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("the broker refused %d ingest subscription(s): %s", len(failed), failed[0])
            return
        self.subscribed.set()

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self.disconnects += 1
        log.warning("disconnected from the broker (%s); reconnecting", reason)

    @property
    def generation(self) -> int:
        """Which connection is current; each delivery carries the one it came on."""
        return self._client.connection

    def _on_qos1(self, topic: str, payload: bytes, mid: int, connection: int,
                 arrived: float) -> None:
        self._inbox.put(Incoming(topic, payload, mid, connection, arrived))

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        # What BufferedClient leaves to paho: MQTT 5 packets with properties, and any
        # QoS 0 message (acknowledging it is a no-op).
        self._inbox.put(Incoming(msg.topic, bytes(msg.payload), msg.mid, self._client.connection,
                                 time.time()))

    # -- the writer's thread ----------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        props: Properties | None = None
        if self._protocol == MQTTProtocolVersion.MQTTv5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = self._receive_maximum
        try:
            if props is not None:
                self._client.connect_async(
                    self._target.host, self._target.port, keepalive=30,
                    clean_start=False, properties=props,
                )
            else:
                self._client.connect_async(self._target.host, self._target.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise BrokerError(f"Cannot connect to the broker: {exc}") from exc
        self._client.loop_start()
        if not (self.connected.wait(timeout) and self.subscribed.wait(timeout)):
            self.stop()
            raise BrokerError(
                f"No connection to the broker at {self._target.host}:{self._target.port} "
                f"within {timeout:.0f} s (check CITYHUB_MQTT_URL and the credentials)."
            )

    def ack_many(self, mids: list[int], generation: int) -> None:
        self._client.ack_many(mids, generation)

    def publish(self, topic: str, payload: bytes) -> None:
        info = self._client.publish(topic, payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("could not queue a reply on %s: %s", topic, info.rc)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
