"""`cityhub bench console`: alert latency to many WebSocket clients, and the board's API p99.

The console and the analytics service run as child processes on a throw-away
database. The bench stores an over-threshold PM10 reading and notifies
``hub_telemetry`` in one transaction, as ingest does on commit; the clock starts at
that commit and stops when each WebSocket client receives the alert. Alerts are
raised one after another, so each latency is that of one alert reaching every client.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import psycopg
import typer
import websockets
from rich.console import Console
from rich.progress import Progress

from hub.bench_storage import DEFAULT_SERVER
from hub.catalogue import load_catalogue
from hub.doc_sections import replace_section
from hub.embedded import free_port, wait_for_port
from hub.errors import HubError
from hub.registry import add_device
from hub.scratch import scratch_database
from hub.settings import load_settings
from hub.users import add_user

HEADING = "## Console"
ZONE = "bench-zone"
out = Console(highlight=False)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _child(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "hub", *args], env=env, stdout=handle,
                                stderr=subprocess.STDOUT)


async def _client(url: str, token: str, ready: asyncio.Event, got: dict[int, float],
                  counter: list[int], total: int) -> None:
    async with websockets.connect(url, subprotocols=["cityhub.v1", f"bearer.{token}"],  # type: ignore[list-item]
                                  max_size=2**20, open_timeout=60) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"op": "subscribe", "channels": ["alerts", f"readings:zone:{ZONE}"],
                                  "since_seq": hello["seq"]}))
        counter[0] += 1
        if counter[0] == total:
            ready.set()
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "alert" and message.get("state") == "open":
                got.setdefault(int(message["alert_id"]), time.monotonic())


async def _run(url: str, ws_url: str, base: str, token: str, clients: int, alerts: int,
               devices: list[str]) -> tuple[list[float], dict[str, list[float]]]:
    ready = asyncio.Event()
    counter = [0]
    received: list[dict[int, float]] = [{} for _ in range(clients)]
    tasks = [asyncio.create_task(_client(ws_url, token, ready, received[i], counter, clients))
             for i in range(clients)]
    await asyncio.wait_for(ready.wait(), 120)
    latencies: list[float] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        with Progress(console=out, transient=True) as progress:
            job = progress.add_task("alerts", total=alerts)
            for device_id in devices[:alerts]:
                ts = datetime.now(UTC)
                async with conn.transaction():
                    await conn.execute("INSERT INTO hub.telemetry (ts, device_id, metric, value) "
                                       "VALUES (%s, %s, 'pm10', 420)", (ts, device_id))
                    span = {"from": ts.isoformat(), "to": ts.isoformat(), "devices": [device_id]}
                    await conn.execute("SELECT pg_notify('hub_telemetry', %s)", (json.dumps(span),))
                start = time.monotonic()
                before = {k for r in received for k in r}
                deadline = start + 30
                while time.monotonic() < deadline:
                    new = [set(r) - before for r in received]
                    if all(new):
                        break
                    await asyncio.sleep(0.005)
                for r in received:
                    fresh = [r[k] for k in set(r) - before]
                    if fresh:
                        latencies.append(min(fresh) - start)
                progress.advance(job)
                await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    api: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        for path in ("/api/v1/alerts?state=live&limit=200", "/api/v1/kpis", "/api/v1/devices?limit=1000"):
            times = []
            for _ in range(50):
                t0 = time.monotonic()
                (await http.get(path)).raise_for_status()
                times.append(time.monotonic() - t0)
            api[path] = times
    return latencies, api


def bench_console(
    clients: Annotated[int, typer.Option(min=1, max=5000, help="WebSocket clients.")] = 200,
    alerts: Annotated[int, typer.Option(min=1, max=1000, help="Alerts raised, one after another.")] = 20,
    doc: Annotated[Path, typer.Option(help="Markdown file whose Console section to replace.")]
    = Path("docs/benchmarks.md"),
    write: Annotated[bool, typer.Option(help="Write the figures into --doc.")] = True,
) -> None:
    """Measure the live view: alert latency to many WebSocket clients, board API p99."""
    server = load_settings().database_url or DEFAULT_SERVER
    catalogue = load_catalogue()
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"cityhub-bench-console-{secrets.token_hex(3)}"
    logs.mkdir(parents=True)
    with scratch_database(server, "cityhub_bench_console", catalogue) as url:
        password = secrets.token_urlsafe(16)
        with psycopg.connect(url, autocommit=True) as conn:
            add_user(conn, "bench-operator", "operator", password, actor="bench")
            devices = [f"bench-aq-{i:04d}" for i in range(alerts)]
            for device_id in devices:
                add_device(conn, catalogue, device_id, "air_quality", zone=ZONE)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        env.update({"CITYHUB_DATABASE_URL": url, "CITYHUB_SECRET_KEY": secrets.token_urlsafe(32),
                    "CITYHUB_HTTP_PORT": str(port), "CITYHUB_LOG_LEVEL": "WARNING",
                    "CITYHUB_CONSOLE_WS_QUEUE_LIMIT": "5000"})
        children = [_child(["console"], env, logs / "console.log"),
                    _child(["analytics"], env, logs / "analytics.log")]
        try:
            if not wait_for_port(port, 30):
                raise HubError(f"The console did not start; see {logs / 'console.log'}.")
            base = f"http://127.0.0.1:{port}"
            login = httpx.post(base + "/api/v1/auth/login",
                               json={"username": "bench-operator", "password": password})
            login.raise_for_status()
            token = str(login.json()["access_token"])
            latencies, api = asyncio.run(
                _run(url, f"ws://127.0.0.1:{port}/ws", base, token, clients, alerts, devices))
        finally:
            for child in children:
                child.terminate()
                child.wait(20)
    expected = clients * alerts
    p50, p99 = _pct(latencies, 0.5) * 1000, _pct(latencies, 0.99) * 1000
    rows = [(path, _pct(t, 0.5) * 1000, _pct(t, 0.99) * 1000) for path, t in api.items()]
    out.print(f"alert received by {len(latencies)}/{expected} client×alert pairs; "
              f"p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    for path, a, b in rows:
        out.print(f"GET {path}: p50 {a:.1f} ms, p99 {b:.1f} ms")
    if write:
        section = _render(clients, alerts, latencies, expected, p50, p99, rows)
        current = doc.read_text(encoding="utf-8") if doc.exists() else ""
        doc.write_text(replace_section(current, section, HEADING), encoding="utf-8")
        out.print(f"wrote the Console section of {doc}")


def _render(clients: int, alerts: int, latencies: list[float], expected: int, p50: float, p99: float,
            rows: list[tuple[str, float, float]]) -> str:
    ok = "✓" if p99 < 1000 and len(latencies) == expected else "✗"
    lines = [
        HEADING, "",
        f"`cityhub bench console --clients {clients} --alerts {alerts}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {os.cpu_count()} cores ({platform.machine()}), "
        f"Python {platform.python_version()}; console, analytics, PostgreSQL and the clients on one machine. "
        f"Each of {clients} WebSocket clients subscribes to `alerts` and `readings:zone:{ZONE}`. An "
        "over-threshold PM10 reading is stored and `hub_telemetry` notified in one transaction (as ingest "
        "does on commit); the clock runs from that commit until each client receives the raised alert "
        "(analytics evaluates the rule, writes the alert and notifies `hub_alerts`; the console fans it "
        "out). "
        "Alerts are raised one at a time, 0.2 s apart.",
        "",
        "| figure | value | target |", "|---|---:|---|",
        f"| alert deliveries (client × alert) | {len(latencies):,} of {expected:,} | all |",
        f"| reading committed → alert on a client, p50 (ms) | {p50:.0f} | |",
        f"| reading committed → alert on a client, p99 (ms) | {p99:.0f} | < 1000 {ok} |",
    ]
    for path, a, b in rows:
        lines.append(f"| `GET {path}` p50 / p99 (ms), 50 calls | {a:.1f} / {b:.1f} | |")
    return "\n".join(lines) + "\n"
