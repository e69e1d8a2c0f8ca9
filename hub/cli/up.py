"""`cityhub up`: everything in one process tree, for a demo or a developer's machine.

Embedded PostgreSQL and broker unless URLs are given, migrations, demo devices,
then ingest and the demo publisher as child processes. Ctrl-C stops them all.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

from rich.table import Table

from hub.catalogue import load_catalogue
from hub.cli.common import RUNNING_FILE, console, errors
from hub.db import connection
from hub.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from hub.errors import AlreadyExists
from hub.migrate import migrate, migration_status
from hub.pseudonym import ensure_keys
from hub.registry import add_device
from hub.settings import Settings, load_settings

# (id, kind, zone, lat, lon): a few devices around Seoul City Hall.
DEMO_DEVICES = [
    ("aq-jung-001", "air_quality", "jung-gu", 37.5663, 126.9779),
    ("aq-jung-002", "air_quality", "jung-gu", 37.5608, 126.9822),
    ("aq-jongno-001", "air_quality", "jongno-gu", 37.5729, 126.9794),
    ("aq-yongsan-001", "air_quality", "yongsan-gu", 37.5326, 126.9904),
    ("meter-jung-0001", "smart_meter", "jung-gu", 37.5651, 126.9895),
    ("meter-jung-0002", "smart_meter", "jung-gu", 37.5644, 126.9870),
    ("cctv-jongno-001", "cctv", "jongno-gu", 37.5704, 126.9831),
]


def _secret(state_dir: Path) -> str:
    path = state_dir / "demo-secret-key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _register_demo_devices(url: str, current: Settings) -> list[dict[str, str]]:
    catalogue = load_catalogue(current.kinds_file)
    with connection(url) as conn:
        for device_id, kind, zone, lat, lon in DEMO_DEVICES:
            with contextlib.suppress(AlreadyExists):
                add_device(conn, catalogue, device_id, kind, zone=zone, lat=lat, lon=lon)
    return [{"id": d[0], "kind": d[1]} for d in DEMO_DEVICES]


def _child(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_file = log_path.open("ab")
    return subprocess.Popen([sys.executable, "-m", "hub", *args], env=env,
                            stdout=log_file, stderr=subprocess.STDOUT)


def up_command() -> None:
    """Start the hub, ingest and simulated devices (embedded database and broker by default)."""
    current = load_settings(demo=True)
    state = current.state_dir
    state.mkdir(parents=True, exist_ok=True)
    postgres = broker = None
    children: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        url = current.database_url
        if url is None:
            console.print("starting the embedded PostgreSQL …")
            postgres = EmbeddedPostgres(state / "postgres")
            url = postgres.start()
        mqtt_url = current.mqtt_url
        protocol = current.mqtt_protocol
        if mqtt_url is None:
            console.print("starting the embedded MQTT broker …")
            broker = EmbeddedBroker(state / "broker")
            mqtt_url = broker.start()
            if broker.kind == "amqtt":
                protocol = "3.1.1"
        key_file = current.key_file
        ensure_keys(key_file)
        applied = migrate(url, load_catalogue(current.kinds_file), current.storage_profile)
        profile = migration_status(url).profile
        devices = _register_demo_devices(url, current)
        devices_file = state / "demo-devices.json"
        devices_file.write_text(json.dumps(devices), encoding="utf-8")
        metrics_port = free_port()
        env = {
            **os.environ,
            "CITYHUB_DEMO": "1",
            "CITYHUB_DATABASE_URL": url,
            "CITYHUB_MQTT_URL": mqtt_url,
            "CITYHUB_MQTT_PROTOCOL": protocol,
            "CITYHUB_SECRET_KEY": current.secret_key.get_secret_value() or _secret(state),
            "CITYHUB_PSEUDONYM_KEY_FILE": str(key_file),
            "CITYHUB_STATE_DIR": str(state),
            "CITYHUB_INGEST_METRICS_PORT": str(metrics_port),
        }
        logs = state / "logs"
        logs.mkdir(exist_ok=True)
        children.append(_child(["ingest"], env, logs / "ingest.log"))
        children.append(_child(["simulate", "--devices", str(devices_file), "--rate", "5"],
                               env, logs / "simulate.log"))
        running = {"database_url": url, "mqtt_url": mqtt_url, "pid": os.getpid(),
                   "metrics_url": f"http://127.0.0.1:{metrics_port}/metrics"}
        (state / RUNNING_FILE).write_text(json.dumps(running), encoding="utf-8")

        table = Table("service", "where", title="cityhub is up (demo mode)")
        table.add_row("database", f"{url}  ({profile} profile"
                      + (", embedded" if postgres else "") + ")")
        table.add_row("MQTT broker", mqtt_url + (f"  (embedded {broker.kind})" if broker else ""))
        table.add_row("ingest metrics", f"http://127.0.0.1:{metrics_port}/metrics")
        table.add_row("demo devices", f"{len(devices)} publishing about 5 msg/s")
        table.add_row("logs", str(logs))
        console.print(table)
        if applied:
            console.print(f"migrations applied: {', '.join(applied)}")
        console.print("try: cityhub device list   ·   cityhub telemetry aq-jung-001 --metric pm10")
        console.print("Ctrl-C stops everything.")
        while not stop.is_set():
            for child in children:
                if child.poll() is not None:
                    errors.print(f"[red]a service exited ({child.args!r}); "
                                 f"see {logs}[/red]")
                    stop.set()
            stop.wait(1.0)
    finally:
        console.print("stopping …")
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        (state / RUNNING_FILE).unlink(missing_ok=True)
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.stop()
        console.print("stopped")
