"""Raw-socket MQTT connections of the simulator: many devices over one, or one with a will.

paho would cost tens of microseconds per publish and a thread per client; 10,000
devices at 5,000 msg/s need far less. A ``Connection`` keeps an outgoing buffer and a
window of unacknowledged packet ids, is pumped by the engine without blocking, and
counts PUBACKs. A device whose going offline is part of the scenario gets a connection
of its own with a last will on its status topic; ``drop`` closes it without
DISCONNECT, so the broker publishes the will [MQTT-3.1.2-8].
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

from devices.loadgen import CONNACK, MAX_PACKET_ID, PUBACK, encode_string, parse_packets
from devices.sim.wire import DISCONNECT, PINGREQ, connect_packet, publish_packet

_CONNECT_TIMEOUT_S = 10.0
_RETURN_CODES = {1: "unacceptable protocol version", 2: "client id rejected", 3: "server unavailable",
                 4: "bad user name or password", 5: "not authorised"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None


class Connection:
    def __init__(self, endpoint: Endpoint, client_id: str, *, window: int = 2000,
                 will_topic: str | None = None, keepalive: int = 60) -> None:
        self.client_id = client_id
        self.window = min(window, MAX_PACKET_ID - 1)
        self.keepalive = keepalive
        self.sock = _open(endpoint, connect_packet(
            client_id, username=endpoint.username, password=endpoint.password,
            will_topic=will_topic, keepalive=keepalive))
        self.unacked = bytearray(MAX_PACKET_ID + 1)
        self.in_flight = 0
        self.acked = 0
        self.closed = False
        self._next_id = 1
        self._out = bytearray()
        self._in = bytearray()
        self._last_write = time.monotonic()
        self._fields: dict[str, bytes] = {}

    @property
    def capacity(self) -> int:
        return self.window - self.in_flight

    @property
    def idle(self) -> bool:
        return self.in_flight == 0 and not self._out

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Queue a QoS 1 PUBLISH; False (nothing queued) when the window is full."""
        packet_id = self._next_id
        if self.unacked[packet_id] or self.in_flight >= self.window:
            return False
        self.unacked[packet_id] = 1
        self.in_flight += 1
        self._next_id = packet_id % MAX_PACKET_ID + 1
        field = self._fields.get(topic)
        if field is None:
            field = self._fields[topic] = encode_string(topic)
        self._out += publish_packet(field, packet_id, payload, retain=retain)
        return True

    def pump(self) -> None:
        """Write what the socket takes and read every acknowledgement that arrived."""
        now = time.monotonic()
        if not self._out and now - self._last_write > self.keepalive / 2:
            self._out += PINGREQ  # keep the broker from timing the connection out
        if self._out:
            try:
                sent = self.sock.send(self._out)
            except BlockingIOError:
                sent = 0
            del self._out[:sent]
            self._last_write = now
        while True:
            try:
                data = self.sock.recv(1 << 18)
            except BlockingIOError:
                return
            if not data:
                raise ConnectionError(f"The broker closed the connection {self.client_id}.")
            self._in += data
            packets, used = parse_packets(self._in)
            del self._in[:used]
            for first, body in packets:
                if first == PUBACK and len(body) == 2:
                    packet_id = int.from_bytes(body, "big")
                    if self.unacked[packet_id]:
                        self.unacked[packet_id] = 0
                        self.in_flight -= 1
                        self.acked += 1

    def drop(self) -> None:
        """Close without DISCONNECT: to the broker the device vanished (its will fires)."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()

    def disconnect(self) -> None:
        """A clean DISCONNECT (the will is discarded [MQTT-3.1.2-10]), then close."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            if not self._out:  # after a half-written packet a DISCONNECT would be garbage
                self.sock.setblocking(True)
                self.sock.settimeout(1.0)
                self.sock.sendall(DISCONNECT)
        with contextlib.suppress(OSError):
            self.sock.close()


def _open(endpoint: Endpoint, connect: bytes) -> socket.socket:
    sock = socket.create_connection((endpoint.host, endpoint.port), timeout=_CONNECT_TIMEOUT_S)
    try:
        sock.sendall(connect)
        reply = b""
        while len(reply) < 4:
            chunk = sock.recv(4 - len(reply))
            if not chunk:
                raise ConnectionError("The broker closed the connection before CONNACK.")
            reply += chunk
        if reply[0] != CONNACK or reply[3] != 0:
            reason = _RETURN_CODES.get(reply[3], f"return code {reply[3]}")
            raise ConnectionError(f"The broker refused the connection: {reason}.")
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock
