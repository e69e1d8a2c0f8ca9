"""The few MQTT 3.1.1 packets the simulator sends, beyond those of devices/loadgen.py. Pure."""

from __future__ import annotations

from devices.loadgen import CONNECT, MAX_PACKET_ID, encode_remaining_length, encode_string

PINGREQ = b"\xc0\x00"
PINGRESP = 0xD0
DISCONNECT = b"\xe0\x00"


def connect_packet(client_id: str, *, username: str | None = None, password: str | None = None,
                   will_topic: str | None = None, will_payload: bytes = b"offline",
                   keepalive: int = 60) -> bytes:
    """CONNECT with a clean session, optional credentials and an optional retained QoS 1
    last will [MQTT-3.1.2-8]: the broker publishes it when the connection ends without a
    DISCONNECT."""
    flags = 0x02
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
    """PUBLISH at QoS 1 (retained if asked); *topic_field* as ``encode_string`` made it."""
    if not 0 < packet_id <= MAX_PACKET_ID:
        raise ValueError("A packet identifier must be 1..65535 [MQTT-2.3.1-1].")
    first = 0x33 if retain else 0x32
    return b"".join((
        bytes([first]), encode_remaining_length(len(topic_field) + 2 + len(payload)), topic_field,
        packet_id.to_bytes(2, "big"), payload,
    ))
