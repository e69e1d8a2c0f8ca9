"""Just enough MQTT 3.1.1 on a socket to send a PUBLISH twice, the second time with the
DUP flag, as a device does when its PUBACK is late [MQTT-3.3.1-1]. paho sets DUP only
itself, after a reconnect, so the duplicates scenario writes the packets here.
"""

from __future__ import annotations

import secrets
import socket
import struct

from ingest.chaos.errors import ChaosError

_CONNACK = 0x20
_PUBACK = 0x40


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def publish_packet(topic: str, payload: bytes, packet_id: int, *, dup: bool) -> bytes:
    """A QoS 1 PUBLISH."""
    body = _string(topic) + struct.pack(">H", packet_id) + payload
    return bytes([0x32 | (0x08 if dup else 0)]) + _length(len(body)) + body


class RawClient:
    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        # One small packet at a time, each waiting for its PUBACK: no Nagle delay.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""
        self._next_id = 0
        self._owed: dict[int, int] = {}  # packet id -> PUBACKs still to come
        client_id = f"chaos-raw-{secrets.token_hex(4)}"
        body = _string("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 30) + _string(client_id)
        self._sock.sendall(bytes([0x10]) + _length(len(body)) + body)
        kind, rest = self._packet()
        if kind != _CONNACK or rest[1] != 0:
            raise ChaosError(f"the broker refused the raw client: {kind:#x} {rest!r}")

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise ChaosError("the broker closed the raw client's connection")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _packet(self) -> tuple[int, bytes]:
        header = self._read(1)[0]
        length, shift = 0, 0
        while True:
            digit = self._read(1)[0]
            length |= (digit & 0x7F) << shift
            shift += 7
            if not digit & 0x80:
                break
        return header & 0xF0, self._read(length)

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def send_twice(self, topic: str, payload: bytes) -> int:
        """Send the message, then again with DUP and the same packet id, without waiting;
        returns the packet id (the broker acknowledges each copy)."""
        packet_id = self._packet_id()
        self._sock.sendall(publish_packet(topic, payload, packet_id, dup=False)
                           + publish_packet(topic, payload, packet_id, dup=True))
        self._owed[packet_id] = self._owed.get(packet_id, 0) + 2
        return packet_id

    def send_once(self, topic: str, payload: bytes) -> int:
        packet_id = self._packet_id()
        self._sock.sendall(publish_packet(topic, payload, packet_id, dup=False))
        self._owed[packet_id] = self._owed.get(packet_id, 0) + 1
        return packet_id

    def wait_acknowledged(self) -> set[int]:
        """Read PUBACKs until every copy sent is acknowledged; returns their packet ids."""
        acked: set[int] = set()
        while self._owed:
            kind, rest = self._packet()
            if kind != _PUBACK:
                continue
            packet_id = struct.unpack(">H", rest[:2])[0]
            left = self._owed.get(packet_id, 0) - 1
            if left < 0:
                raise ChaosError(f"a PUBACK for packet {packet_id}, which was not sent")
            acked.add(packet_id)
            if left:
                self._owed[packet_id] = left
            else:
                del self._owed[packet_id]
        return acked

    def close(self) -> None:
        try:
            self._sock.sendall(bytes([0xE0, 0]))
        finally:
            self._sock.close()
