"""`cityhub bench console`: alert latency to many WebSocket clients, and the board's API p99.

Mosquitto, the real ingest service, analytics and the console run as child processes on
a throw-away database. The bench publishes an over-threshold PM10 reading over MQTT as
a device would; the clock starts at that publish and stops when each WebSocket client
receives the alert. Alerts are raised one after another, so each latency is that of one
alert reaching every client; background readings keep the zone channel busy meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path
from typing import Annotated

import httpx
import psycopg
import typer
from rich.console import Console

from hub.bench.database import DEFAULT_SERVER
from hub.catalogue import load_catalogue
from hub.doc_sections import replace_section
from hub.registry import add_device
from hub.scratch import scratch_database
from hub.settings import load_settings
from hub.users import add_user
from ops_console.bench.measure import Plan, api_times, measure_alerts
from ops_console.bench.publisher import Publisher
from ops_console.bench.report import HEADING, Run, render
from ops_console.bench.services import Services

ZONE = "bench-zone"
BACKGROUND_DEVICES = 10
out = Console(highlight=False)


def _login(base: str, password: str) -> str:
    login = httpx.post(base + "/api/v1/auth/login",
                       json={"username": "bench-operator", "password": password})
    login.raise_for_status()
    return str(login.json()["access_token"])


def bench_console(
    clients: Annotated[int, typer.Option(min=1, max=5000, help="WebSocket clients.")] = 200,
    alerts: Annotated[int, typer.Option(min=1, max=1000, help="Alerts raised, one after another.")] = 20,
    background_rate: Annotated[float, typer.Option(
        min=0.1, max=1000, help="Below-threshold readings a second for the zone channel.")] = 5.0,
    doc: Annotated[Path, typer.Option(help="Markdown file whose Console section to replace.")]
    = Path("docs/benchmarks.md"),
    write: Annotated[bool, typer.Option(help="Write the figures into --doc.")] = True,
) -> None:
    """Measure the live view: reading published → alert on many WebSocket clients, board API p99."""
    # One INFO line per API call would bury the figures.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    server = load_settings().database_url or DEFAULT_SERVER
    catalogue = load_catalogue()
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"cityhub-bench-console-{secrets.token_hex(3)}"
    logs.mkdir(parents=True)
    alert_devices = tuple(f"bench-aq-{i:04d}" for i in range(alerts))
    background = tuple(f"bench-bg-{i:02d}" for i in range(BACKGROUND_DEVICES))
    with scratch_database(server, "cityhub_bench_console", catalogue) as url:
        password = secrets.token_urlsafe(16)
        with psycopg.connect(url, autocommit=True) as conn:
            add_user(conn, "bench-operator", "operator", password, actor="bench")
            # Registered before ingest starts, so its registry holds them from the first message.
            for device_id in alert_devices + background:
                add_device(conn, catalogue, device_id, "air_quality", zone=ZONE)
        with Services(logs, url) as services:
            services.start_broker()
            services.start_ingest()
            services.start_hub(ws_queue_limit=5000)
            out.print(f"services running; logs in {logs}")
            base = f"http://127.0.0.1:{services.http_port}"
            token = _login(base, password)
            plan = Plan(url, f"ws://127.0.0.1:{services.http_port}/ws", token, clients, ZONE,
                        alert_devices, background, background_rate)
            publisher = Publisher(services.broker_port)
            try:
                outcome = asyncio.run(measure_alerts(plan, publisher, out))
            finally:
                publisher.close()
            api = asyncio.run(api_times(base, token))
    run = Run(clients, alerts, background_rate, ZONE, outcome, api)
    for line in run.summary():
        out.print(line)
    if write:
        current = doc.read_text(encoding="utf-8") if doc.exists() else ""
        doc.write_text(replace_section(current, render(run), HEADING), encoding="utf-8")
        out.print(f"wrote the Console section of {doc}")
