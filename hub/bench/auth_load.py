"""A broker's login storm on the console: ``python -m hub.bench.auth_load``.

Sends ``POST /api/v1/mqtt/auth`` as EMQX's HTTP authenticator does (bearer secret, JSON
``username``/``password``/``clientid``), each connection keeping its socket alive and one
request in flight, for the devices of a tokens file (CSV ``id,token``, as ``cityhub device
import`` writes it). A separate process, so that its CPU is not the console's: it prints
``go`` once warmed up, then one JSON line of counts when the time is up.

Raw HTTP/1.1 over asyncio streams rather than an HTTP client library: the client must
cost less than the server it measures, on the same two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Counts:
    allow: int = 0
    deny: int = 0
    other: int = 0
    latencies: list[float] = field(default_factory=list)


def requests(tokens: Path, secret: str, wrong_every: int) -> list[bytes]:
    """One request per device; every *wrong_every*-th carries a wrong token (0: none)."""
    out = []
    with tokens.open(encoding="utf-8", newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            token = row["token"] if not wrong_every or i % wrong_every else "x" + row["token"][1:]
            body = json.dumps({"username": row["id"], "password": token, "clientid": row["id"]}).encode()
            out.append(b"POST /api/v1/mqtt/auth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Authorization: Bearer " + secret.encode() + b"\r\n"
                       b"Content-Type: application/json\r\n"
                       b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return out


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bytes:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return await reader.readexactly(length)


async def _connection(port: int, batch: list[bytes], start: int, stop: asyncio.Event,
                      counts: Counts, timed: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = start
    try:
        while not stop.is_set():
            began = time.perf_counter()
            body = await _one(reader, writer, batch[i % len(batch)])
            i += 1
            if not timed.is_set():
                continue
            counts.latencies.append(time.perf_counter() - began)
            if b'"allow"' in body:
                counts.allow += 1
            elif b'"deny"' in body:
                counts.deny += 1
            else:
                counts.other += 1
    finally:
        writer.close()


async def run(port: int, batch: list[bytes], connections: int, warmup_s: float,
              duration_s: float) -> tuple[Counts, float]:
    stop, timed, counts = asyncio.Event(), asyncio.Event(), Counts()
    step = max(1, len(batch) // connections)
    tasks = [asyncio.create_task(_connection(port, batch, c * step, stop, counts, timed))
             for c in range(connections)]
    await asyncio.sleep(warmup_s)
    print("go", flush=True)
    timed.set()
    began = time.perf_counter()
    await asyncio.sleep(duration_s)
    stop.set()
    await asyncio.gather(*tasks)
    return counts, time.perf_counter() - began


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True, help="CITYHUB_BROKER_AUTH_SECRET")
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--wrong-every", type=int, default=0)
    args = parser.parse_args(argv)
    batch = requests(args.tokens, args.secret, args.wrong_every)
    counts, seconds = asyncio.run(run(args.port, batch, args.connections, args.warmup, args.duration))
    lat = sorted(counts.latencies) or [0.0]
    sys.stdout.write(json.dumps({
        "allow": counts.allow, "deny": counts.deny, "other": counts.other, "seconds": seconds,
        "p50_ms": lat[len(lat) // 2] * 1e3, "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
    }) + "\n")


if __name__ == "__main__":
    main()
