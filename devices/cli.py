"""`cityhub simulate`: publish simulated device data (the demo publisher for now)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from devices.demo import DemoDevice, run_demo


def simulate_command(
    mqtt_url: Annotated[str, typer.Option(envvar="CITYHUB_MQTT_URL", help="mqtt://user:pw@host:port")],
    devices_file: Annotated[Path, typer.Option("--devices", help="JSON list of {id, kind}.")],
    rate: Annotated[float, typer.Option(help="Messages per second, all devices together.")] = 5.0,
    duration: Annotated[float, typer.Option(help="Seconds to run; 0 runs until Ctrl-C.")] = 0.0,
) -> None:
    """Publish plausible readings for the listed devices."""
    listed = json.loads(devices_file.read_text(encoding="utf-8"))
    devices = [DemoDevice(str(d["id"]), str(d["kind"])) for d in listed]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if duration > 0:
        threading.Timer(duration, stop.set).start()
    sent = run_demo(mqtt_url, devices, rate, stop)
    typer.echo(f"published {sent} message(s)")
