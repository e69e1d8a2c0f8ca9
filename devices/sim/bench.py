"""`cityhub bench simulate`: how many messages a second one simulator process publishes.

Starts a throw-away Mosquitto, runs `cityhub simulate` as a process of its own (so its
CPU and memory are its own), counts what the broker acknowledged (PUBACKs, reported by
the simulator) and, optionally, what a subscriber on ``cityhub/v1/#`` received. Prints
a table and replaces the "Simulators" section of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import paho.mqtt.client as paho
import psutil
import typer
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.table import Table

from hub.doc_sections import replace_section
from hub.embedded import ThrowawayBroker

HEADING = "## Simulators"
_console = Console(highlight=False)


@dataclass(frozen=True, slots=True)
class Result:
    devices: int
    rate: float
    duration: float
    sent: int
    acked: int
    received: int | None
    msg_per_s: float
    cpu_us_per_msg: float
    cpu_share: float  # of one core, while publishing
    max_rss_mib: float
    error: str


class _Counter:
    """A paho subscriber on cityhub/v1/# counting deliveries (QoS 0)."""

    def __init__(self, port: int) -> None:
        self.count = 0
        self._ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="cityhub-bench-sim-counter")
        self.client.on_connect = lambda c, *_: c.subscribe("cityhub/v1/#", qos=0)
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("The counting subscriber got no SUBACK.")

    def _on_message(self, _c: paho.Client, _u: Any, _m: paho.MQTTMessage) -> None:
        self.count += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _mix(devices: int) -> list[str]:
    """A city's mix: 40 % air quality, 50 % smart meters, 10 % cameras."""
    aq, cctv = devices * 4 // 10, devices // 10
    return [f"air_quality={aq}", f"smart_meter={devices - aq - cctv}", f"cctv={cctv}"]


def run_bench(devices: int, rate: float, duration: float, subscribe: bool, directory: Path) -> Result:
    with ThrowawayBroker(directory / "broker") as broker:
        return _measure(broker.port, devices, rate, duration, subscribe, directory)


def _measure(port: int, devices: int, rate: float, duration: float, subscribe: bool,
             directory: Path) -> Result:
    counter = _Counter(port) if subscribe else None
    stats_file = directory / "stats.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env["CITYHUB_STATE_DIR"] = str(directory)
    command = [sys.executable, "-m", "hub", "simulate", "--mqtt-url", f"mqtt://127.0.0.1:{port}",
               "--rate", str(rate), "--duration", str(duration), "--stats-file", str(stats_file),
               "--ground-truth", str(directory / "truth.jsonl")]
    for item in _mix(devices):
        command += ["--devices", item]
    max_rss = 0
    try:
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        watched = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                max_rss = max(max_rss, watched.memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.2)
        output = child.communicate()[0].decode(errors="replace")
        if child.returncode != 0 or not stats_file.exists():
            raise RuntimeError(f"The simulator failed:\n{output[-2000:]}")
        if counter is not None:
            time.sleep(0.5)  # let the last deliveries arrive before reading the count
    finally:
        if counter is not None:
            counter.close()
    stats = json.loads(stats_file.read_text(encoding="utf-8"))
    sent, acked = int(stats["sent"]), int(stats["acked"])
    # The publishing phase, without the offline announcements at the end.
    published = min(int(stats["run_sent"]), acked)
    span = max(float(stats["run_seconds"]), 1e-9)
    cpu = float(stats["cpu_at_stop"]) - float(stats["cpu_at_start"])
    return Result(devices, rate, duration, sent, acked,
                  counter.count if counter is not None else None, published / span,
                  cpu / max(published, 1) * 1e6, cpu / span,
                  max(max_rss, int(stats["max_rss_bytes"])) / 2**20, str(stats.get("error", "")))


def _table(r: Result) -> Table:
    table = Table("devices", "offered msg/s", "sent", "acknowledged", "received", "achieved msg/s",
                  "CPU µs/msg", "CPU (one core)", "max RSS", title="cityhub simulate, one process")
    table.add_row(f"{r.devices:,}", f"{r.rate:,.0f}", f"{r.sent:,}", f"{r.acked:,}",
                  "—" if r.received is None else f"{r.received:,}", f"{r.msg_per_s:,.0f}",
                  f"{r.cpu_us_per_msg:.1f}", f"{r.cpu_share:.0%}", f"{r.max_rss_mib:.0f} MiB")
    return table


def _section(r: Result, command: str) -> str:
    received = "not counted" if r.received is None else f"{r.received:,}"
    return (
        f"{HEADING}\n\n"
        f"`{command}` on {date.today().isoformat()}: {os.cpu_count()} cores ({platform.machine()}), "
        "simulator, Mosquitto and a counting subscriber on the same machine. One `cityhub simulate` "
        "process publishes for every device over one raw-socket MQTT 3.1.1 connection at QoS 1 "
        "(40 % air-quality stations, 50 % smart meters, 10 % cameras; scenario normal). "
        "*Sent* and *acknowledged* (the broker's PUBACKs) include the closing `offline` status of "
        "every device, and a device's first turn is its `online` status; *achieved* is the "
        "messages of the publishing phase (acknowledged) over its "
        "wall time; CPU is the simulator process's user + system time in that phase (after "
        "start-up), per message; max RSS is the whole process's.\n\n"
        "| devices | offered msg/s | sent | acknowledged | received by a subscriber | achieved msg/s "
        "| CPU µs/msg | CPU (one core) | max RSS |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {r.devices:,} | {r.rate:,.0f} | {r.sent:,} | {r.acked:,} | {received} | "
        f"{r.msg_per_s:,.0f} | {r.cpu_us_per_msg:.1f} | {r.cpu_share:.0%} | {r.max_rss_mib:.0f} MiB |\n\n"
        "Target: 10,000 devices at an aggregate 5,000 msg/s from one process.\n"
    )


def bench_simulate(
    devices: Annotated[int, typer.Option(min=10, help="Simulated devices (40/50/10 % aq/meter/cctv).")]
    = 10_000,
    rate: Annotated[float, typer.Option(min=1, help="Reports a second, all devices together.")] = 5000.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds of publishing.")] = 20.0,
    subscribe: Annotated[bool, typer.Option(help="Also count what a subscriber receives.")] = True,
    docs: Annotated[Path, typer.Option(help="Write the figures into this file's Simulators section.")]
    = Path("docs/benchmarks.md"),
    write_docs: Annotated[bool, typer.Option(help="Update the --docs file.")] = True,
) -> None:
    """Measure one simulator process: achieved msg/s, CPU per message, memory."""
    _console.print(f"simulating {devices:,} devices at {rate:,.0f} msg/s for {duration:g} s …")
    with tempfile.TemporaryDirectory(prefix="cityhub-bench-sim-") as tmp:
        result = run_bench(devices, rate, duration, subscribe, Path(tmp))
    _console.print(_table(result))
    if result.error:
        _console.print(f"[red]simulator error:[/red] {result.error}")
    if write_docs:
        command = shlex.join(["cityhub", *sys.argv[1:]])
        current = docs.read_text(encoding="utf-8") if docs.exists() else ""
        docs.write_text(replace_section(current, _section(result, command), HEADING), encoding="utf-8")
        _console.print(f"figures written to {docs}")
