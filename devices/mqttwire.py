"""The few MQTT 3.1.1 packets our raw-socket publishers speak, and their connection.

paho spends tens of microseconds of Python on every publish and a thread per client;
the load generator (devices/loadgen.py) and the simulator (devices/sim) must cost far
less than what they load. So both speak CONNECT, PUBLISH at QoS 1, PUBACK, PINGREQ and
DISCONNECT themselves over one non-blocking socket: a ``Connection`` keeps an outgoing
buffer and a window of unacknowledged packet ids, and counts PUBACKs as it is pumped.
The encoders are pure. It imports nothing of the server side.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time

CONNECT = 0x10
CONNACK = 0x20
PUBLISH_QOS1 = 0x32  # PUBLISH, DUP 0, QoS 1, RETAIN 0 [MQTT-3.3.1]
PUBACK = 0x40
PINGREQ = b"\xc0\x00"
PINGRESP = 0xD0
DISCONNECT = b"\xe0\x00"
MAX_REMAINING_LENGTH = 268_435_455  # four length bytes [MQTT-2.2.3]
MAX_PACKET_ID = 65_535

_CONNECT_TIMEOUT_S = 10.0
_RETURN_CODES = {1: "unacceptable protocol version", 2: "client id rejected", 3: "server unavailable",
                 4: "bad user name or password", 5: "not authorised"}


# -- packet encoding (pure) ------------------------------------------------------------
def encode_remaining_length(length: int) -> bytes:
    """MQTT's variable-length integer: 7 bits a byte, low bits first [MQTT-2.2.3]."""
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        raise ValueError(f"A remaining length must be 0..{MAX_REMAINING_LENGTH}, not {length}.")
    out = bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        if length:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_remaining_length(data: bytes | bytearray, offset: int) -> tuple[int, int] | None:
    """(length, bytes it took) of the variable-length integer at *offset*; None if incomplete."""
    value = 0
    for i in range(4):
        if offset + i >= len(data):
            return None
        byte = data[offset + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    raise ValueError("A remaining length has more than four bytes.")


def encode_string(text: str) -> bytes:
    """A UTF-8 string with its two-byte length [MQTT-1.5.3]."""
    data = text.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError("An MQTT string holds at most 65535 bytes.")
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id: str, *, keepalive: int = 0, clean_session: bool = True,
                   username: str | None = None, password: str | None = None,
                   will_topic: str | None = None, will_payload: bytes = b"offline") -> bytes:
    """CONNECT for MQTT 3.1.1; keepalive 0 turns keep-alive off [MQTT-3.1.2-10]. With
    *will_topic*, a retained QoS 1 last will [MQTT-3.1.2-8]: the broker publishes it when
    the connection ends without a DISCONNECT."""
    flags = 0x02 if clean_session else 0x00
    payload = encode_string(client_id)
    if will_topic is not None:
        flags |= 0x04 | 0x08 | 0x20  # will, will QoS 1, will retain [MQTT-3.1.2.5..7]
        payload += encode_string(will_topic) + len(will_payload).to_bytes(2, "big") + will_payload
    if username is not None:
        flags |= 0x80
        payload += encode_string(username)
        if password is not None:
            flags |= 0x40
            payload += encode_string(password)
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + keepalive.to_bytes(2, "big") + payload
    return bytes([CONNECT]) + encode_remaining_length(len(body)) + body


def publish_packet(topic_field: bytes, packet_id: int, payload: bytes, *, retain: bool = False) -> bytes:
    """PUBLISH at QoS 1 (retained if asked); *topic_field* is the topic as ``encode_string``
    made it."""
    if not 0 < packet_id <= MAX_PACKET_ID:
        raise ValueError("A packet identifier must be 1..65535 [MQTT-2.3.1-1].")
    return b"".join((
        bytes([PUBLISH_QOS1 | (0x01 if retain else 0)]),
        encode_remaining_length(len(topic_field) + 2 + len(payload)), topic_field,
        packet_id.to_bytes(2, "big"), payload,
    ))


def parse_packets(data: bytes | bytearray) -> tuple[list[tuple[int, bytes]], int]:
    """Complete packets at the start of *data* as (first byte, body), and the bytes used."""
    packets: list[tuple[int, bytes]] = []
    pos = 0
    while len(data) - pos >= 2:
        decoded = decode_remaining_length(data, pos + 1)
        if decoded is None:
            break
        length, used = decoded
        start = pos + 1 + used
        if start + length > len(data):
            break
        packets.append((data[pos], bytes(data[start:start + length])))
        pos = start + length
    return packets, pos


# -- the connection ----------------------------------------------------------------------
def open_socket(host: str, port: int, connect: bytes) -> socket.socket:
    """Connect, send the CONNECT packet *connect*, wait for CONNACK; a non-blocking socket."""
    sock = socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S)
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


class Connection:
    """The socket, the outgoing buffer ``out`` and the window of unacknowledged packet ids.

    Packets go into ``out`` (``publish``, or ``take_id`` and appending encoded packets
    directly, which is cheaper for bulk encoders); ``pump`` writes and counts PUBACKs."""

    def __init__(self, sock: socket.socket, client_id: str, *, window: int,
                 keepalive: int = 0) -> None:
        self.sock = sock
        self.client_id = client_id
        self.window = min(window, MAX_PACKET_ID - 1)
        self.keepalive = keepalive
        self.unacked = bytearray(MAX_PACKET_ID + 1)  # 1 where that packet id awaits its PUBACK
        self.in_flight = 0
        self.acked = 0
        self.closed = False
        self.out = bytearray()
        self._next_id = 1
        self._in = bytearray()
        self._last_write = time.monotonic()
        self._fields: dict[str, bytes] = {}

    @property
    def capacity(self) -> int:
        return self.window - self.in_flight

    @property
    def idle(self) -> bool:
        return self.in_flight == 0 and not self.out

    def take_id(self) -> int | None:
        """The next packet id, now awaiting its PUBACK; None when the window is full."""
        packet_id = self._next_id
        if self.unacked[packet_id] or self.in_flight >= self.window:
            return None
        self.unacked[packet_id] = 1
        self.in_flight += 1
        self._next_id = packet_id % MAX_PACKET_ID + 1
        return packet_id

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Queue a QoS 1 PUBLISH; False (nothing queued) when the window is full."""
        packet_id = self.take_id()
        if packet_id is None:
            return False
        field = self._fields.get(topic)
        if field is None:
            field = self._fields[topic] = encode_string(topic)
        self.out += publish_packet(field, packet_id, payload, retain=retain)
        return True

    def pump(self, timeout: float = 0.0) -> None:
        """Write what the socket takes, waiting up to *timeout* for it, then read every
        PUBACK that arrived. Waiting a tick instead of waking per acknowledgement costs a
        few system calls per tick rather than per message."""
        if self.keepalive and not self.out:
            now = time.monotonic()
            if now - self._last_write > self.keepalive / 2:
                self.out += PINGREQ  # keep the broker from timing the connection out
        if self.out:
            writable = True
            if timeout > 0:
                writable = bool(select.select([], [self.sock], [], timeout)[1])
            if writable:
                with contextlib.suppress(BlockingIOError):
                    del self.out[:self.sock.send(self.out)]
                self._last_write = time.monotonic()
        elif timeout > 0:
            time.sleep(timeout)
        self._read_acks()

    def _read_acks(self) -> None:
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
        """Close without DISCONNECT: to the broker the client vanished (its will fires)."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()

    def disconnect(self) -> None:
        """A clean DISCONNECT (a will is discarded [MQTT-3.1.2-10]), then close."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            if not self.out:  # after a half-written packet a DISCONNECT would be garbage
                self.sock.setblocking(True)
                self.sock.settimeout(1.0)
                self.sock.sendall(DISCONNECT)
        with contextlib.suppress(OSError):
            self.sock.close()
