"""The naive consumer that `cityhub bench ingest` holds ingest against.

What a first attempt at MQTT → PostgreSQL looks like: paho with its automatic
acknowledgements (so a crash loses whatever was acknowledged but not committed),
``json.loads``, COPY into a plain table in batches; no validation, no dead
letters, no registry. Ingest does all of that and acknowledges after commit, and
should still be faster.

Run as its own process::

    python -m ingest.bench.naive --port 1883 --database-url postgresql://… [--batch 2000]

It reports on stdout one ``NaiveProgress`` JSON line when subscribed, then one after
every commit.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from psycopg import sql

from ingest.metrics import LAG_BUCKETS

APPLICATION_NAME = "cityhub-bench-naive"
TABLE = sql.Identifier("bench_naive")
FILTERS = [("cityhub/v1/+/telemetry", 1), ("cityhub/v1/gateway/+/telemetry", 1)]
SUBSCRIBE_TIMEOUT_S = 30.0
_POLL_S = 0.005

Row = tuple[datetime, str, str, float]


@dataclass(frozen=True, slots=True)
class NaiveProgress:
    ready: bool
    received: int  # messages
    stored: int  # messages committed
    readings: int  # rows committed
    committed_at: float  # epoch seconds of the last commit
    lag: tuple[int, ...]  # cumulative counts per LAG_BUCKETS, then +Inf

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> NaiveProgress:
        d: dict[str, Any] = json.loads(text)
        return cls(bool(d["ready"]), int(d["received"]), int(d["stored"]), int(d["readings"]),
                   float(d["committed_at"]), tuple(int(n) for n in d["lag"]))


def rows_of(topic: str, document: Any) -> tuple[list[Row], float]:
    """The rows of one message and its first reading's time (epoch s); no checks at all."""
    parts = topic.split("/")
    if parts[2] == "gateway":
        readings = [(device, r) for device, items in document.items() for r in items]
    else:
        items = document if isinstance(document, list) else [document]
        readings = [(parts[2], r) for r in items]
    rows: list[Row] = []
    for device, reading in readings:
        ts = datetime.fromtimestamp(reading["ts"] / 1000, tz=UTC)
        rows.extend((ts, device, k, float(v)) for k, v in reading.items() if k != "ts")
    return rows, readings[0][1]["ts"] / 1000


class _Consumer:
    def __init__(self, conn: psycopg.Connection[tuple[object, ...]], batch: int,
                 linger: float) -> None:
        self._conn = conn
        self._batch = batch
        self._linger = linger
        self._lock = threading.Lock()
        self._rows: list[Row] = []
        self._times: list[float] = []
        self.subscribed = threading.Event()
        self.received = 0
        self.stored = 0
        self.readings = 0
        self.committed_at = 0.0
        self._lag = [0] * (len(LAG_BUCKETS) + 1)

    # paho's thread: the naive way, parsing right here.
    def on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        rows, first_ts = rows_of(msg.topic, json.loads(msg.payload))
        with self._lock:
            self._rows.extend(rows)
            self._times.append(first_ts)
            self.received += 1

    def on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode,
                   _p: Properties | None) -> None:
        if not reason.is_failure:
            client.subscribe(FILTERS)

    def on_subscribe(self, _c: paho.Client, _u: Any, _mid: int, _r: list[ReasonCode],
                     _p: Properties | None) -> None:
        self.subscribed.set()

    def progress(self, ready: bool = True) -> NaiveProgress:
        return NaiveProgress(ready, self.received, self.stored, self.readings, self.committed_at,
                             tuple(itertools.accumulate(self._lag)))

    def run(self, stop: threading.Event, emit: Callable[[NaiveProgress], None]) -> None:
        flushed = time.monotonic()
        while True:
            stopping = stop.wait(_POLL_S)
            with self._lock:
                due = len(self._times) >= self._batch or time.monotonic() - flushed >= self._linger
                if not (due or stopping):
                    continue
                rows, self._rows = self._rows, []
                times, self._times = self._times, []
            flushed = time.monotonic()
            if times:
                self._commit(rows, times)
                emit(self.progress())
            if stopping:
                return

    def _commit(self, rows: Sequence[Row], times: Sequence[float]) -> None:
        statement = sql.SQL("COPY {} (ts, device_id, metric, value) FROM STDIN").format(TABLE)
        with self._conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        self._conn.commit()
        now = time.time()
        for t in times:
            self._lag[bisect.bisect_left(LAG_BUCKETS, now - t)] += 1
        self.committed_at = now
        self.stored += len(times)
        self.readings += len(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.bench.naive")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--linger-ms", type=int, default=50)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def emit(progress: NaiveProgress) -> None:
        sys.stdout.write(progress.to_json() + "\n")
        sys.stdout.flush()

    with psycopg.connect(args.database_url, application_name=APPLICATION_NAME) as conn:
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (ts timestamptz, device_id text, metric text, value float8)"
        ).format(TABLE))
        conn.commit()
        consumer = _Consumer(conn, args.batch, args.linger_ms / 1000)
        client = paho.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"cityhub-bench-naive-{secrets.token_hex(4)}",
                             protocol=MQTTProtocolVersion.MQTTv311, clean_session=True)
        client.on_connect = consumer.on_connect
        client.on_subscribe = consumer.on_subscribe
        client.on_message = consumer.on_message
        client.connect(args.host, args.port)
        client.loop_start()
        try:
            if not consumer.subscribed.wait(SUBSCRIBE_TIMEOUT_S):
                sys.stderr.write("no SUBACK from the broker\n")
                return 1
            emit(consumer.progress(ready=True))
            consumer.run(stop, emit)
        finally:
            client.disconnect()
            client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
