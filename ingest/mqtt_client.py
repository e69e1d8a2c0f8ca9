"""paho's ``Client``, made cheaper per packet for a consumer that takes tens of
thousands of QoS 1 messages a second.

paho keeps doing everything that makes a connection correct: connecting and
reconnecting, keepalive, the session, subscriptions, outgoing publishes and every
packet other than a plain QoS 1 PUBLISH. Three of its per-packet costs are replaced
(measured in docs/benchmarks.md, "Where ingest's time goes"):

- **Reads.** paho reads one packet per ``select()`` and makes about three
  ``recv()`` calls for it (the fixed header byte, each remaining-length byte, the
  body). Here ``_sock_recv`` serves those small reads from one large ``recv()``,
  and ``loop_read`` goes on while bytes read ahead remain, so a ``select()`` and a
  system call are paid per 256 KiB instead of per packet. Nothing is left in the
  buffer when ``loop_read`` returns: the next ``select()`` would not see it.
- **PUBLISH decoding.** For a QoS 1 PUBLISH without MQTT 5 properties the topic,
  packet id and payload are sliced out here and handed straight to ``on_qos1``;
  paho would build a ``Properties`` object (two dictionaries of ~27 entries) and an
  ``MQTTMessage`` and match the topic against filtered callbacks we never
  register. Packets with properties, QoS 0 or 2, or a topic that is not UTF-8 go
  through paho's own path unchanged.
- **Acknowledgements.** ``ack_many`` queues the PUBACKs of a whole committed
  batch as one write, where ``ack`` costs a wake-up of paho's thread and a
  ``send()`` per message. A PUBACK with Reason Code 0 and no properties may omit
  both, so the same 4 bytes serve MQTT 3.1.1 and 5 [MQTT-3.4.2.1].

Every connection attempt gets a number (``connection``), raised before paho replaces
the socket, and each delivery carries the number it arrived on. ``ack_many`` refuses
packet ids of another connection: there they would name other messages, or precede
the CONNECT.

These hooks are paho's private methods; constraints.txt pins paho-mqtt, and
tests/ingest/test_mqtt_client.py fails if a release renames them.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

READ_SIZE = 256 * 1024
# recv() calls one loop_read may make: then paho's loop gets its turn to write the
# PUBACKs and keepalives queued meanwhile, even while the broker sends without pause.
READS_PER_LOOP = 8
_PUBACK = 0x40

# (topic, payload, packet id, connection number, arrival time as time.time()), called
# in paho's thread.
Qos1Sink = Callable[[str, bytes, int, int, float], None]


class BufferedClient(paho.Client):
    def __init__(self, *, client_id: str, protocol: MQTTProtocolVersion, on_qos1: Qos1Sink,
                 **kwargs: Any) -> None:
        super().__init__(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                         **kwargs)
        self._on_qos1 = on_qos1
        self._v5 = protocol == MQTTProtocolVersion.MQTTv5
        self._read_sock: object = None
        self._read_buf = b""
        self._read_pos = 0
        self._reads_left = READS_PER_LOOP
        self._ack_lock = threading.Lock()
        self._connection = 0

    @property
    def connection(self) -> int:
        """The number of the current connection attempt (1 for the first)."""
        return self._connection

    def reconnect(self) -> MQTTErrorCode:
        # Every connect, the first included, goes through here (connect(), and
        # loop_forever's reconnects). The number rises before the socket changes.
        with self._ack_lock:
            self._connection += 1
        return super().reconnect()

    # -- reads --------------------------------------------------------------------
    def _sock_recv(self, bufsize: int) -> bytes:
        if self._sock is not self._read_sock:
            # A new connection: whatever was read ahead on the old one is void.
            self._read_sock = self._sock
            self._read_buf = b""
            self._read_pos = 0
        buf = self._read_buf
        pos = self._read_pos
        if pos >= len(buf):
            if self._reads_left <= 0:
                # paho keeps the partial packet and reads on after its next select().
                raise BlockingIOError
            self._reads_left -= 1
            buf = super()._sock_recv(READ_SIZE)
            if not buf:
                return buf  # the broker closed the connection
            self._read_buf = buf
            pos = 0
        end = pos + bufsize
        self._read_pos = end
        return buf[pos:end]

    def _read_ahead(self) -> int:
        if self._sock is not self._read_sock:
            return 0
        return len(self._read_buf) - self._read_pos

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        self._reads_left = READS_PER_LOOP
        while True:
            rc = super().loop_read(max_packets)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is None or self._read_ahead() <= 0:
                return rc

    # -- PUBLISH --------------------------------------------------------------------
    def _handle_publish(self) -> MQTTErrorCode:
        header: int = self._in_packet["command"]
        packet = self._in_packet["packet"]
        if (header & 0x06) != 0x02 or not self._manual_ack:
            return super()._handle_publish()  # QoS 0 or 2, or paho acknowledges itself
        length = len(packet)
        topic_end = 2 + int.from_bytes(packet[0:2], "big")
        body = topic_end + 2
        if self._v5:
            if body >= length or packet[body] != 0:
                return super()._handle_publish()  # carries properties: paho parses them
            body += 1
        if topic_end == 2 or body > length:
            return super()._handle_publish()  # paho reports the malformed packet
        try:
            topic = packet[2:topic_end].decode("utf-8")
        except UnicodeDecodeError:
            return super()._handle_publish()
        mid = int.from_bytes(packet[topic_end:topic_end + 2], "big")
        self._on_qos1(topic, bytes(packet[body:]), mid, self._connection, time.time())
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- PUBACK ---------------------------------------------------------------------
    def ack_many(self, mids: Sequence[int], connection: int) -> MQTTErrorCode:
        """Acknowledge QoS 1 messages delivered on *connection*, all in one write;
        MQTT_ERR_NO_CONN, and nothing sent, if that connection is gone."""
        if not mids:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        # Each PUBACK is 0x40, remaining length 2, the packet id: one big-endian word.
        blob = struct.pack(f">{len(mids)}I", *[0x4002_0000 | mid for mid in mids])
        with self._ack_lock:
            if connection != self._connection or self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            # Queued before a reconnect can begin; reconnect() drops what is unsent.
            return self._packet_queue(_PUBACK, blob, 0, 0)


def private_hooks() -> tuple[str, ...]:
    """The paho internals BufferedClient relies on (checked by a test)."""
    return ("_sock_recv", "_handle_publish", "_packet_queue", "_in_packet", "_sock",
            "_manual_ack")
