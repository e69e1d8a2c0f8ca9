"""A cheap MQTT 3.1.1 load generator: one raw socket, QoS 1, packets encoded in bulk.

paho spends tens of microseconds of Python on every publish; a publisher that loads
a consumer must cost far less than the consumer it measures. So this one speaks the
few packets it needs itself (devices/mqttwire.py, shared with the simulator), encodes
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

import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devices.mqttwire import Connection, connect_packet, encode_string, open_socket, publish_packet

# Encoding more than this per round would delay reading acknowledgements.
_MAX_CHUNK = 2000
_REPORT_EVERY_S = 0.1
# Due messages are encoded and sent together once a tick: pacing to within 2 ms.
_TICK_S = 0.002
_ACK_TIMEOUT_S = 30.0
# Readings cycle through these values: all inside pm10's valid range 0..2000.
_VALUES = tuple(b"%d" % ((i * 37) % 2001) for i in range(2001))


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


class _Encoder:
    """Turns due messages into PUBLISH packets, round-robin over the sources."""

    def __init__(self, plan: LoadPlan) -> None:
        self._sources = _sources(plan)
        if not self._sources:
            raise ValueError("A load plan needs devices or gateways.")
        self._count = plan.readings_per_message
        self._cursor = 0
        self._value = 0

    def encode(self, conn: Connection, n: int, now_ms: int) -> int:
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
    conn = Connection(open_socket(plan.host, plan.port, connect_packet(plan.client_id)),
                      plan.client_id, window=plan.window)
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
        conn.disconnect()
    except OSError as exc:  # ConnectionError too: report what was acknowledged so far
        error = f"{type(exc).__name__}: {exc}"
    finally:
        conn.drop()
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
