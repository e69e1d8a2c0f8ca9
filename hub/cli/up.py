"""`cityhub up`: everything in one process tree, for a demo or a developer's machine.

Embedded PostgreSQL and broker unless URLs are given, migrations, demo devices,
then ingest and the demo publisher as child processes. Ctrl-C or SIGTERM stops them all:
the services together (hub/cli/children.py), then the broker and the database.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import signal
import threading
import time
from pathlib import Path

import psycopg
import typer
from rich.table import Table

from hub.catalogue import load_catalogue
from hub.cli.children import Child, Stopped, start_child, stop_children
from hub.cli.common import RUNNING_FILE, console, errors, write_running
from hub.db import connection
from hub.device_tokens import demo_key
from hub.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from hub.migrate import migrate, migration_status
from hub.mqtt_access import INGEST_ACCOUNT, SIM_ACCOUNT
from hub.pseudonym import ensure_keys
from hub.registry import add_missing
from hub.settings import Settings, load_settings
from hub.users import ensure_demo_accounts
from hub.zones import add_missing_areas, camera_areas

log = logging.getLogger(__name__)

# The services drain side by side within this (ingest needs up to 8 s, the simulator's
# acknowledgements 10 s, docs/operations.md); then the rest is killed.
STOP_TIMEOUT_S = 15.0

# Four districts around Seoul City Hall, each with 3 air-quality stations, 6 smart
# meters and a camera: 40 devices for `cityhub simulate` (ids as the simulator makes them).
_DEMO_ZONES = [("jung-gu", 37.5641, 126.9979), ("jongno-gu", 37.5735, 126.9790),
               ("yongsan-gu", 37.5326, 126.9905), ("mapo-gu", 37.5663, 126.9019)]
_DEMO_KINDS = [("cctv", "cctv", 1), ("aq", "air_quality", 3), ("meter", "smart_meter", 6)]
_SPACING_M = 110.0  # the sunflower's scale: neighbours about 200 m apart
_GOLDEN_ANGLE = math.pi * (3 - math.sqrt(5))


def around(lat: float, lon: float, index: int) -> tuple[float, float]:
    """The *index*-th place of a sunflower spiral around (lat, lon): every device of a
    district at a place of its own, ~200 m from its neighbours, within ~350 m of the centre."""
    r = _SPACING_M * math.sqrt(index + 0.5)
    a = index * _GOLDEN_ANGLE
    north, east = r * math.cos(a), r * math.sin(a)
    return (round(lat + north / 111_000, 6),
            round(lon + east / (111_000 * math.cos(math.radians(lat))), 6))


# (id, kind, zone, lat, lon)
DEMO_DEVICES = [
    (f"{prefix}-{zone.removesuffix('-gu')}-{n:04d}", kind, zone, *around(lat, lon, index))
    for zone, lat, lon in _DEMO_ZONES
    for index, (prefix, kind, n) in enumerate(
        (prefix, kind, n) for prefix, kind, count in _DEMO_KINDS for n in range(1, count + 1))
]

def _secret(state_dir: Path) -> str:
    path = state_dir / "demo-secret-key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _register_demo_devices(url: str, current: Settings) -> list[dict[str, object]]:
    catalogue = load_catalogue(current.kinds_file)
    with connection(url) as conn:
        add_missing(conn, catalogue, DEMO_DEVICES, keys=current.device_token_keys())
        add_missing_areas(conn, camera_areas(d[2] for d in DEMO_DEVICES if d[1] == "cctv"))
    return [{"id": d[0], "kind": d[1], "zone": d[2], "lat": d[3], "lon": d[4]} for d in DEMO_DEVICES]


def _checkpoint(postgres: EmbeddedPostgres) -> None:
    try:
        postgres.checkpoint()
    except psycopg.Error as exc:  # stopped meanwhile: the shutdown checkpoint does it
        log.debug("no early checkpoint: %s", exc)


def up_command() -> None:
    """Start the hub, ingest and simulated devices (embedded database and broker by default)."""
    current = load_settings(demo=True)
    state = current.state_dir
    state.mkdir(parents=True, exist_ok=True)
    if not current.device_token_key.get_secret_value():
        # Kept in the state directory, where `cityhub device …` in another terminal finds it.
        current = load_settings(demo=True, device_token_key=demo_key(state))
    postgres = broker = None
    children: list[Child] = []
    checkpoint: threading.Thread | None = None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    clean = True
    try:
        url = current.database_url
        if url is None:
            console.print("starting the embedded PostgreSQL …")
            postgres = EmbeddedPostgres(state / "postgres")
            url = postgres.start()
        if stop.is_set():  # a signal while starting: stop what runs, start nothing more
            return
        mqtt_url = current.mqtt_url
        protocol = current.mqtt_protocol
        key_file = current.key_file
        ensure_keys(key_file)
        applied = migrate(url, load_catalogue(current.kinds_file), current.storage_profile)
        profile = migration_status(url).profile
        devices = _register_demo_devices(url, current)
        with connection(url) as conn:
            accounts_file = ensure_demo_accounts(conn, state / "demo-accounts.json")
        if stop.is_set():
            return
        if mqtt_url is None:
            # After the devices: the broker starts with their logins (docs/devices.md).
            console.print("starting the embedded MQTT broker …")
            broker = EmbeddedBroker(state / "broker")
            mqtt_url = broker.start(url)
        devices_file = state / "demo-devices.json"
        devices_file.write_text(json.dumps(devices), encoding="utf-8")
        metrics_port, analytics_metrics_port = free_port(), free_port()
        env = {
            **os.environ,
            "CITYHUB_DEMO": "1",
            "CITYHUB_DATABASE_URL": url,
            "CITYHUB_MQTT_URL": broker.url_for(INGEST_ACCOUNT) if broker else mqtt_url,
            "CITYHUB_MQTT_PROTOCOL": protocol,
            "CITYHUB_SECRET_KEY": current.secret_key.get_secret_value() or _secret(state),
            "CITYHUB_DEVICE_TOKEN_KEY": current.device_token_key.get_secret_value(),
            "CITYHUB_PSEUDONYM_KEY_FILE": str(key_file),
            "CITYHUB_STATE_DIR": str(state),
            "CITYHUB_INGEST_METRICS_PORT": str(metrics_port),
            "CITYHUB_ANALYTICS_METRICS_PORT": str(analytics_metrics_port),
        }
        # The simulator publishes for every demo device with its own demo-only account.
        sim_env = {**env, "CITYHUB_MQTT_URL": broker.url_for(SIM_ACCOUNT)} if broker else env
        logs = state / "logs"
        logs.mkdir(exist_ok=True)
        if stop.is_set():
            return
        children.append(start_child("ingest", ["ingest"], env, logs / "ingest.log"))
        children.append(start_child("analytics", ["analytics"], env, logs / "analytics.log"))
        children.append(start_child("console", ["console"], env, logs / "console.log"))
        # One-shot, so not a service whose exit stops `up`: a first PM2.5 forecast model from
        # simulated weeks of the demo's stations, until `cityhub analytics train` makes one
        # from the hub's own history (docs/analytics.md, "Forecasts").
        children.append(start_child(
            "forecast training",
            ["analytics", "forecast", "train", "--simulated", "21", "--if-missing"], env,
            logs / "forecast-train.log", service=False))
        # --register: the devices exist already; it records the welfare-check consent of the
        # simulated single elderly households (docs/analytics.md).
        children.append(start_child(
            "simulate", ["simulate", "--devices-file", str(devices_file), "--rate", "10",
                         "--scenario", "demo", "--register"], sim_env, logs / "simulate.log"))
        if postgres is not None and applied:
            # A new database is thousands of unwritten files; written now, in the background,
            # a stop soon after the first start need not sync them all before it may exit.
            checkpoint = threading.Thread(target=_checkpoint, args=(postgres,), daemon=True)
            checkpoint.start()
        # `cityhub device add/revoke/rotate` find the embedded broker's logins through it.
        write_running(state, database_url=url, mqtt_url=mqtt_url, broker=broker,
                      pid=os.getpid(), metrics_url=f"http://127.0.0.1:{metrics_port}/metrics")

        table = Table("service", "where", title="cityhub is up (demo mode)")
        table.add_row("database", f"{url}  ({profile} profile"
                      + (", embedded" if postgres else "") + ")")
        table.add_row("MQTT broker", mqtt_url + (f"  (embedded {broker.kind})" if broker else ""))
        table.add_row("ingest metrics", f"http://127.0.0.1:{metrics_port}/metrics")
        table.add_row("analytics metrics", f"http://127.0.0.1:{analytics_metrics_port}/metrics")
        table.add_row("simulated devices", f"{len(devices)} publishing about 10 msg/s, scenario demo "
                      f"(ground truth: {state / 'ground-truth.jsonl'})")
        table.add_row("console", f"http://{current.http_host}:{current.http_port}/  "
                      f"(demo logins in {accounts_file})")
        table.add_row("logs", str(logs))
        console.print(table)
        if applied:
            console.print(f"migrations applied: {', '.join(applied)}")
        console.print("try: cityhub device list   ·   cityhub telemetry aq-jung-0001 --metric pm10")
        console.print("Ctrl-C stops everything.")
        while not stop.is_set():
            for child in children:
                if child.service and not child.running:
                    errors.print(f"[red]a service exited ({child.name}, code "
                                 f"{child.process.returncode}); see {logs}[/red]")
                    clean = False
                    stop.set()
            stop.wait(1.0)
    finally:
        stopped = _stop(children, state, broker, postgres, checkpoint)
    if not (clean and stopped.clean):
        raise typer.Exit(1)


def _stop(children: list[Child], state: Path, broker: EmbeddedBroker | None,
          postgres: EmbeddedPostgres | None, checkpoint: threading.Thread | None) -> Stopped:
    """The services first (the simulators' last "offline" statuses still reach the broker,
    ingest commits what it holds), then the broker, then the database under them."""
    console.print("stopping … (Ctrl-C again to kill the services at once)")
    started = time.monotonic()
    hurry = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: hurry.set())
    stopped = stop_children(children, STOP_TIMEOUT_S, hurry)  # logs what it had to kill
    (state / RUNNING_FILE).unlink(missing_ok=True)
    if broker is not None:
        broker.stop()
    if postgres is not None:
        postgres.stop()
    if checkpoint is not None:
        checkpoint.join(10)  # its connection ended with the server
    console.print(f"stopped in {time.monotonic() - started:.1f} s")
    return stopped
