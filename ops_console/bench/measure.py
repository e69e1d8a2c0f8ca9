"""The measuring side of `cityhub bench console`: WebSocket clients, the MQTT publishes that
raise alerts, background readings for the zone channel, and the board's API queries.

Every clock here is ``time.monotonic()`` of this one process: the publish of the
over-threshold reading, the commit (when this process's LISTEN on ``hub_telemetry`` hears
of the reading's device), and each client's receipt of the alert.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
import psycopg
import websockets
from psycopg import sql
from rich.console import Console
from rich.progress import Progress

from ops_console.bench.publisher import Publisher

SUBSCRIBE_TIMEOUT_S = 120.0
ALERT_TIMEOUT_S = 30.0
ALERT_GAP_S = 0.2
API_CALLS = 50
API_PATHS = ("/api/v1/alerts?state=live&limit=200", "/api/v1/kpis", "/api/v1/devices?limit=1000")


@dataclass(frozen=True, slots=True)
class Plan:
    database_url: str
    ws_url: str
    token: str
    clients: int
    zone: str
    alert_devices: tuple[str, ...]  # one alert each, raised one after another
    background_devices: tuple[str, ...]  # below every threshold, for the zone channel
    background_rate: float  # readings a second over all background devices


@dataclass(slots=True)
class Outcome:
    published: list[float] = field(default_factory=list)  # publish → alert on a client, s
    committed: list[float] = field(default_factory=list)  # commit → alert on a client, s
    to_commit: list[float] = field(default_factory=list)  # publish → commit, one per alert, s
    background: int = 0  # background readings published
    readings_seen: list[int] = field(default_factory=list)  # readings messages, per client


class _Clients:
    """What the clients received: alert id → receipt time, and readings messages, per client."""

    def __init__(self, count: int) -> None:
        self.alerts: list[dict[int, float]] = [{} for _ in range(count)]
        self.readings = [0] * count
        self.subscribed = 0
        self.all_subscribed = asyncio.Event()

    def known(self) -> set[int]:
        return {k for got in self.alerts for k in got}

    def fresh(self, before: set[int]) -> list[list[float]]:
        return [[t for k, t in got.items() if k not in before] for got in self.alerts]


async def _client(plan: Plan, index: int, seen: _Clients) -> None:
    async with websockets.connect(plan.ws_url, subprotocols=["cityhub.v1", f"bearer.{plan.token}"],  # type: ignore[list-item]
                                  max_size=2**20, open_timeout=60) as ws:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"op": "subscribe", "since_seq": hello["seq"],
                                  "channels": ["alerts", f"readings:zone:{plan.zone}"]}))
        seen.subscribed += 1
        if seen.subscribed == len(seen.alerts):
            seen.all_subscribed.set()
        async for raw in ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "alert" and message.get("state") == "open":
                seen.alerts[index].setdefault(int(message["alert_id"]), time.monotonic())
            elif kind == "readings":
                seen.readings[index] += 1


async def _listen(url: str, commits: dict[str, float], listening: asyncio.Event) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier("hub_telemetry")))
        listening.set()
        async for note in conn.notifies():
            heard = time.monotonic()
            for device_id in json.loads(note.payload).get("devices") or ():
                commits.setdefault(device_id, heard)


async def _background(plan: Plan, publisher: Publisher, outcome: Outcome) -> None:
    period, due = 1.0 / plan.background_rate, time.monotonic()
    while True:
        n = outcome.background
        device_id = plan.background_devices[n % len(plan.background_devices)]
        await publisher.publish(device_id, {"pm10": 20.0 + n % 40, "pm25": 10.0 + n % 20})
        outcome.background += 1
        due += period
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def _raise_alert(device_id: str, publisher: Publisher, seen: _Clients,
                       commits: dict[str, float], outcome: Outcome) -> None:
    before = seen.known()
    started = await publisher.publish(device_id, {"pm10": 420.0})
    deadline = time.monotonic() + ALERT_TIMEOUT_S
    while not all(seen.fresh(before)) and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    committed = commits.get(device_id)
    if committed is not None:
        outcome.to_commit.append(committed - started)
    for fresh in seen.fresh(before):
        if fresh:
            outcome.published.append(min(fresh) - started)
            if committed is not None:
                outcome.committed.append(min(fresh) - committed)


async def _stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def measure_alerts(plan: Plan, publisher: Publisher, out: Console) -> Outcome:
    outcome, seen, commits = Outcome(), _Clients(plan.clients), dict[str, float]()
    listening = asyncio.Event()
    listener = asyncio.create_task(_listen(plan.database_url, commits, listening))
    clients = [asyncio.create_task(_client(plan, i, seen)) for i in range(plan.clients)]
    background: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(listening.wait(), SUBSCRIBE_TIMEOUT_S)
        await asyncio.wait_for(seen.all_subscribed.wait(), SUBSCRIBE_TIMEOUT_S)
        background = asyncio.create_task(_background(plan, publisher, outcome))
        with Progress(console=out, transient=True) as progress:
            job = progress.add_task("alerts", total=len(plan.alert_devices))
            for device_id in plan.alert_devices:
                await _raise_alert(device_id, publisher, seen, commits, outcome)
                progress.advance(job)
                await asyncio.sleep(ALERT_GAP_S)
        if background.done():
            background.result()  # raises what stopped the background readings
    finally:
        await _stop(*clients, listener, *([background] if background else []))
    outcome.readings_seen = seen.readings
    return outcome


async def api_times(base: str, token: str) -> dict[str, list[float]]:
    """Seconds each of API_CALLS calls of each board query took, one after another."""
    times: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        for path in API_PATHS:
            times[path] = []
            for _ in range(API_CALLS):
                t0 = time.monotonic()
                (await http.get(path)).raise_for_status()
                times[path].append(time.monotonic() - t0)
    return times
