"""`cityhub bench credentials`: device import and broker logins at city scale.

In a throw-away database, as an operator would:

1. ``cityhub device import`` of a CSV of *devices* (with ``CITYHUB_DEVICE_TOKEN_KEY`` and
   ``CITYHUB_BROKER_DIR`` set, so the command also writes Mosquitto's password and ACL
   files), timed from the command's start to its exit;
2. ``cityhub console`` started with the same key, and a separate load process
   (hub/bench/auth_load.py) logging the imported devices in through
   ``POST /api/v1/mqtt/auth`` as EMQX would, the console's CPU time (and that of its
   PostgreSQL backends) read over the measured window: checks per CPU-second of the
   console process is "checks per second per core".

Where the time goes is measured in-process beside it: each hash a device costs.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console

from hub.bench.credentials_report import HEADING, AuthRun, ImportRun, Run, hash_costs, render
from hub.bench.database import DEFAULT_SERVER
from hub.bench.errors import BenchError
from hub.bench.machine import describe
from hub.bench.processes import Child, cpu_seconds
from hub.broker import set_account
from hub.catalogue import load_catalogue
from hub.doc_sections import replace_section
from hub.embedded import free_port, wait_for_port
from hub.mqtt_access import INGEST_ACCOUNT
from hub.scratch import scratch_database
from hub.settings import load_settings

out = Console(highlight=False)
GATEWAY_EVERY = 100  # one gateway row per this many devices, the devices behind it after it


def _csv(path: Path, devices: int) -> None:
    lines = ["id,kind,zone,gateway"]
    gateway = ""
    for i in range(devices):
        if i % GATEWAY_EVERY == 0:
            gateway = f"bench-gw-{i // GATEWAY_EVERY:05d}"
            lines.append(f"{gateway},gateway,bench,")
        else:
            lines.append(f"bench-dev-{i:06d},smart_meter,bench,{gateway}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _env(url: str, key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env.update({"CITYHUB_DATABASE_URL": url, "CITYHUB_DEVICE_TOKEN_KEY": key,
                "CITYHUB_LOG_LEVEL": "WARNING"})
    env.update({f"CITYHUB_{k.upper()}": v for k, v in extra.items()})
    return env


def _import(work: Path, url: str, key: str, devices: int) -> ImportRun:
    with psycopg.connect(url, autocommit=True) as conn:
        set_account(conn, INGEST_ACCOUNT)  # so the broker files are complete, as in production
    _csv(work / "devices.csv", devices)
    broker_dir = work / "broker"
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hub", "device", "import", str(work / "devices.csv"),
         "--tokens-out", str(work / "tokens.csv"), "--json"],
        env=_env(url, key, broker_dir=str(broker_dir)), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise BenchError(f"`cityhub device import` failed: {done.stderr.strip()[-2000:]}")
    created = int(json.loads(done.stdout.strip().splitlines()[-1])["created"])
    passwd = (broker_dir / "passwd").read_text(encoding="utf-8").count("\n")
    return ImportRun(created, seconds, passwd)


def _backend_pids(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = "
                            "'cityhub-console' AND datname = current_database()").fetchall()
    return [int(r[0]) for r in rows]


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(p) or 0.0 for p in pids)


def _auth(work: Path, url: str, key: str, connections: int, duration: float) -> AuthRun:
    port, secret = free_port(), secrets.token_urlsafe(24)
    # At INFO, as deployed: whatever the console logs per check is part of its cost.
    env = _env(url, key, http_port=str(port), secret_key=secrets.token_urlsafe(32),
               broker_auth_secret=secret, console_pool_size=str(connections), log_level="INFO")
    with Child("console", [sys.executable, "-m", "hub", "console"], work / "console.log", env=env) as console:
        if not wait_for_port(port, 30.0):
            console.require_alive()
            raise BenchError(f"The console did not listen in time; see {work / 'console.log'}.")
        with Child("auth-load", [sys.executable, "-m", "hub.bench.auth_load", "--port", str(port),
                                 f"--secret={secret}", "--tokens", str(work / "tokens.csv"),
                                 "--connections", str(connections), "--duration", str(duration)],
                   work / "auth-load.log", pipe_stdout=True) as load:
            if load.stdout.readline().strip() != b"go":
                load.require_alive()
                raise BenchError(f"The load did not start; see {work / 'auth-load.log'}.")
            backends = _backend_pids(url)
            console_cpu, backend_cpu = cpu_seconds(console.pid) or 0.0, _cpu(backends)
            result = json.loads(load.stdout.readline())
            console_cpu = (cpu_seconds(console.pid) or 0.0) - console_cpu
            backend_cpu = _cpu(backends) - backend_cpu
    return AuthRun(connections=connections, allow=int(result["allow"]), deny=int(result["deny"]),
                   other=int(result["other"]), seconds=float(result["seconds"]),
                   console_cpu_s=console_cpu, backend_cpu_s=backend_cpu,
                   p50_ms=float(result["p50_ms"]), p99_ms=float(result["p99_ms"]))


def bench_credentials(
    devices: Annotated[int, typer.Option(min=100, max=1_000_000, help="Devices to import.")] = 10_000,
    connections: Annotated[int, typer.Option(
        min=1, max=200, help="HTTP connections of the login load (EMQX's pool).")] = 16,
    duration: Annotated[float, typer.Option(min=1, max=600, help="Seconds of login load.")] = 15.0,
    doc: Annotated[Path, typer.Option(help="Markdown file whose section to replace.")]
    = Path("docs/benchmarks.md"),
    write: Annotated[bool, typer.Option(help="Write the figures into --doc.")] = True,
) -> None:
    """Devices imported per second (with the broker files) and EMQX auth checks per core."""
    server = load_settings().database_url or DEFAULT_SERVER
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"cityhub-bench-credentials-{secrets.token_hex(3)}"
    work.mkdir(parents=True)
    key = secrets.token_urlsafe(32)
    with scratch_database(server, "cityhub_bench_credentials", load_catalogue()) as url:
        out.print(f"importing {devices:,} devices … (work files in {work})")
        imported = _import(work, url, key, devices)
        out.print(f"imported {imported.devices:,} in {imported.seconds:.1f} s; logging them in …")
        auth = _auth(work, url, key, connections, duration)
        machine = describe(url, "mosquitto")
    run = Run(machine, " ".join(["cityhub bench credentials", *sys.argv[3:]]).strip(),
              imported, auth, hash_costs())
    for line in render(run).splitlines():
        out.print(line, markup=False)
    if write:
        current = doc.read_text(encoding="utf-8") if doc.exists() else ""
        doc.write_text(replace_section(current, render(run), HEADING), encoding="utf-8")
        out.print(f"wrote the {HEADING.removeprefix('## ')} section of {doc}")
