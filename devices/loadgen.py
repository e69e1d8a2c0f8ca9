"""A cheap MQTT 3.1.1 load generator: one raw socket, QoS 1, packets encoded in bulk.

paho spends tens of microseconds of Python on every publish; a publisher that loads
a consumer must cost far less than the consumer it measures. So this one speaks the
few packets it needs itself (CONNECT, PUBLISH at QoS 1, PUBACK, DISCONNECT), encodes
every message that is due in one go, writes them in large chunks and keeps at most
``window`` of them unacknowledged. It imports nothing of the server side.

Run it as a process of its own::

    python -m devices.loadgen PLAN.json

PLAN.json is a ``LoadPlan`` (``LoadPlan.to_json``). On stdout it reports one JSON
object a line (``Report.to_json``): progress about ten times a second, then the
final report with ``"done": true``.

Payloads follow the device contract: ``{"ts": <epoch ms>, "pm10": <0..2000>}`` on
``cityhub/v1/{device}/telemetry`` (an array of them when a message carries several
readings), or ``{"<device>": [{"ts": …, "pm10": …}], …}`` on
``cityhub/v1/gateway/{gateway}/telemetry``. ``ts`` is the time of publishing and
never repeats for a device, so every reading is a distinct row in the hub.
"""

from __future__ import annotations

import contextlib
import json
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CONNECT = 0x10
CONNACK = 0x20
PUBLISH_QOS1 = 0x32  # PUBLISH, DUP 0, QoS 1, RETAIN 0 [MQTT-3.3.1]
PUBACK = 0x40
DISCONNECT = b"\xe0\x00"
MAX_REMAINING_LENGTH = 268_435_455  # four length bytes [MQTT-2.2.3]
MAX_PACKET_ID = 65_535

# Encoding more than this per round would delay reading acknowledgements.
_MAX_CHUNK = 2000
_REPORT_EVERY_S = 0.1
# Due messages are encoded and sent together once a tick: pacing to within 2 ms.
_TICK_S = 0.002
_ACK_TIMEOUT_S = 30.0
_CONNECT_TIMEOUT_S = 10.0
# Readings cycle through these values: all inside pm10's valid range 0..2000.
_VALUES = tuple(b"%d" % ((i * 37) % 2001) for i in range(2001))


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


def connect_packet(client_id: str, *, keepalive: int = 0, clean_session: bool = True) -> bytes:
    """CONNECT for MQTT 3.1.1; keepalive 0 turns keep-alive off [MQTT-3.1.2-10]."""
    variable = b"\x00\x04MQTT\x04" + bytes([0x02 if clean_session else 0x00])
    body = variable + keepalive.to_bytes(2, "big") + encode_string(client_id)
    return bytes([CONNECT]) + encode_remaining_length(len(body)) + body


def publish_packet(topic_field: bytes, packet_id: int, payload: bytes) -> bytes:
    """PUBLISH at QoS 1; *topic_field* is the topic as ``encode_string`` made it."""
    if not 0 < packet_id <= MAX_PACKET_ID:
        raise ValueError("A packet identifier must be 1..65535 [MQTT-2.3.1-1].")
    length = len(topic_field) + 2 + len(payload)
    return b"".join((
        bytes([PUBLISH_QOS1]), encode_remaining_length(length), topic_field,
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


# -- payloads (pure) ---------------------------------------------------------------------
def reading_payload(ts_ms: int, value: bytes, count: int = 1) -> bytes:
    """One reading, or an array of *count* readings 1 ms apart, of the encoded *value*."""
    if count == 1:
        return b'{"ts":%d,"pm10":%s}' % (ts_ms, value)
    items = b",".join(b'{"ts":%d,"pm10":%s}' % (ts_ms + i, value) for i in range(count))
    return b"[" + items + b"]"


def gateway_prefixes(devices: Sequence[str]) -> tuple[bytes, ...]:
    """The unchanging start of each device's entry in a gateway payload."""
    return tuple(json.dumps(d).encode("utf-8") + b':[{"ts":' for d in devices)


def gateway_payload(prefixes: Sequence[bytes], ts_ms: int, values: Sequence[bytes]) -> bytes:
    """``{"<device>": [{"ts", "pm10"}], …}``: one reading for each device behind a gateway."""
    ts = b"%d" % ts_ms
    return b"{" + b",".join(
        p + ts + b',"pm10":' + v + b"}]" for p, v in zip(prefixes, values, strict=True)
    ) + b"}"


# -- the plan and the report -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoadPlan:
    host: str
    port: int
    client_id: str
    rate: float  # messages per second, all sources together
    duration: float
    window: int  # unacknowledged messages at most
    readings_per_message: int = 1
    devices: tuple[str, ...] = ()
    # (gateway id, devices behind it); when given, only gateways publish.
    gateways: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def total(self) -> int:
        return int(self.rate * self.duration)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadPlan:
        d: dict[str, Any] = json.loads(text)
        return cls(
            host=str(d["host"]), port=int(d["port"]), client_id=str(d["client_id"]),
            rate=float(d["rate"]), duration=float(d["duration"]), window=int(d["window"]),
            readings_per_message=int(d.get("readings_per_message", 1)),
            devices=tuple(str(x) for x in d.get("devices", ())),
            gateways=tuple((str(g), tuple(str(c) for c in cs)) for g, cs in d.get("gateways", ())),
        )


@dataclass(frozen=True, slots=True)
class Report:
    sent: int
    acked: int
    first_publish: float  # epoch seconds; 0 before the first
    last_publish: float
    cpu_seconds: float  # of this process
    done: bool = False
    error: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Report:
        d: dict[str, Any] = json.loads(text)
        return cls(int(d["sent"]), int(d["acked"]), float(d["first_publish"]),
                   float(d["last_publish"]), float(d["cpu_seconds"]), bool(d["done"]),
                   str(d.get("error", "")))


# -- publishing --------------------------------------------------------------------------
class _Source:
    """One publisher of the plan: a device, or a gateway and the devices behind it."""

    __slots__ = ("next_ts", "prefixes", "topic_field")

    def __init__(self, topic: str, prefixes: tuple[bytes, ...]) -> None:
        self.topic_field = encode_string(topic)
        self.prefixes = prefixes
        self.next_ts = 0


def _sources(plan: LoadPlan) -> list[_Source]:
    if plan.gateways:
        return [_Source(f"cityhub/v1/gateway/{g}/telemetry", gateway_prefixes(children))
                for g, children in plan.gateways]
    return [_Source(f"cityhub/v1/{d}/telemetry", ()) for d in plan.devices]


class _Connection:
    """The socket, the outgoing buffer and the window of unacknowledged packet ids."""

    def __init__(self, sock: socket.socket, window: int) -> None:
        self.sock = sock
        self.window = min(window, MAX_PACKET_ID - 1)
        self.unacked = bytearray(MAX_PACKET_ID + 1)  # 1 where that packet id awaits its PUBACK
        self.in_flight = 0
        self.acked = 0
        self._next_id = 1
        self.out = bytearray()
        self._in = bytearray()

    def take_id(self) -> int | None:
        packet_id = self._next_id
        if self.unacked[packet_id] or self.in_flight >= self.window:
            return None
        self.unacked[packet_id] = 1
        self.in_flight += 1
        self._next_id = packet_id % MAX_PACKET_ID + 1
        return packet_id

    def pump(self, timeout: float) -> None:
        """Write what the socket takes, wait up to *timeout*, then read every PUBACK that
        arrived. Waiting a tick instead of waking per acknowledgement costs a few system
        calls per tick rather than per message."""
        if self.out:
            _, writable, _ = select.select([], [self.sock], [], timeout)
            if writable:
                del self.out[:self.sock.send(self.out)]
        elif timeout > 0:
            time.sleep(timeout)
        while True:
            try:
                data = self.sock.recv(1 << 18)
            except BlockingIOError:
                return
            if not data:
                raise ConnectionError("The broker closed the connection.")
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


def _connect(plan: LoadPlan) -> socket.socket:
    sock = socket.create_connection((plan.host, plan.port), timeout=_CONNECT_TIMEOUT_S)
    try:
        sock.sendall(connect_packet(plan.client_id))
        reply = b""
        while len(reply) < 4:
            chunk = sock.recv(4 - len(reply))
            if not chunk:
                raise ConnectionError("The broker closed the connection before CONNACK.")
            reply += chunk
        if reply[0] != CONNACK or reply[3] != 0:
            raise ConnectionError(f"The broker refused the connection (return code {reply[3]}).")
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


class _Encoder:
    """Turns due messages into PUBLISH packets, round-robin over the sources."""

    def __init__(self, plan: LoadPlan) -> None:
        self._sources = _sources(plan)
        if not self._sources:
            raise ValueError("A load plan needs devices or gateways.")
        self._count = plan.readings_per_message
        self._cursor = 0
        self._value = 0

    def encode(self, conn: _Connection, n: int, now_ms: int) -> int:
        """Append up to *n* packets to *conn*'s buffer; return how many."""
        sources, values = self._sources, _VALUES
        out = conn.out
        done = 0
        while done < n:
            packet_id = conn.take_id()
            if packet_id is None:
                break
            source = sources[self._cursor]
            self._cursor = (self._cursor + 1) % len(sources)
            # Publish time, but never a ts this source used before: (device, metric, ts)
            # is the hub's key, so a repeat would read as a lost reading.
            ts = now_ms if now_ms >= source.next_ts else source.next_ts
            if source.prefixes:
                start = self._value
                picked = [values[(start + i) % len(values)] for i in range(len(source.prefixes))]
                self._value = (start + len(picked)) % len(values)
                payload = gateway_payload(source.prefixes, ts, picked)
                source.next_ts = ts + 1
            else:
                payload = reading_payload(ts, values[self._value], self._count)
                self._value = (self._value + 1) % len(values)
                source.next_ts = ts + self._count
            out += publish_packet(source.topic_field, packet_id, payload)
            done += 1
        return done


def publish(plan: LoadPlan, stop: threading.Event, progress: Callable[[Report], None]) -> Report:
    """Publish ``plan.total`` messages at ``plan.rate`` and wait for their PUBACKs."""
    encoder = _Encoder(plan)
    total = plan.total
    sock = _connect(plan)
    conn = _Connection(sock, plan.window)
    sent = 0
    first = last = 0.0
    started = time.monotonic()
    finished_at: float | None = None
    next_report = started
    error = ""

    def report(done: bool = False) -> Report:
        return Report(sent, conn.acked, first, last, time.process_time(), done, error)

    try:
        while not stop.is_set():
            now = time.monotonic()
            more = False
            if sent < total:
                due = min(total, int((now - started) * plan.rate) + 1) - sent
                if due > 0:
                    wall = time.time()
                    n = encoder.encode(conn, min(due, _MAX_CHUNK), int(wall * 1000))
                    if n:
                        first = first or wall
                        last = wall
                        sent += n
                    more = n == _MAX_CHUNK
            elif conn.in_flight == 0 and not conn.out:
                break
            else:
                finished_at = finished_at or now
                if now - finished_at > _ACK_TIMEOUT_S:
                    error = f"{conn.in_flight} PUBACK(s) still missing after {_ACK_TIMEOUT_S:.0f} s"
                    break
            conn.pump(0.0 if more else _TICK_S)
            if now >= next_report:
                progress(report())
                next_report = now + _REPORT_EVERY_S
        # After a half-written packet a DISCONNECT would be garbage; then just close.
        if not conn.out:
            with contextlib.suppress(OSError):
                sock.setblocking(True)
                sock.settimeout(1.0)
                sock.sendall(DISCONNECT)
    except OSError as exc:  # ConnectionError too: report what was acknowledged so far
        error = f"{type(exc).__name__}: {exc}"
    finally:
        sock.close()
    return report(done=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("usage: python -m devices.loadgen PLAN.json\n")
        return 2
    plan = LoadPlan.from_json(Path(args[0]).read_text(encoding="utf-8"))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def emit(report: Report) -> None:
        sys.stdout.write(report.to_json() + "\n")
        sys.stdout.flush()

    try:
        final = publish(plan, stop, emit)
    except OSError as exc:  # the connection could not be made
        final = Report(0, 0, 0.0, 0.0, time.process_time(), done=True,
                       error=f"{type(exc).__name__}: {exc}")
    emit(final)
    return 1 if final.error else 0


if __name__ == "__main__":
    sys.exit(main())
