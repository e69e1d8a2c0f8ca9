"""`cityhub bench query`: the rows API, the Parquet export and the pandas client, measured in
one run against the same generated month of air-quality readings (docs/benchmarks.md)."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import psycopg
import typer
from rich.console import Console as Terminal

from hub.catalogue import load_catalogue
from hub.doc_sections import replace_section
from hub.scratch import scratch_database
from hub.settings import load_settings
from hub.users import add_user
from ops_console.bench_query import QueryBenchError, measure
from ops_console.bench_query.console import Console, wait_ready
from ops_console.bench_query.data import analyst_login, generate, plan
from ops_console.bench_query.report import HEADING, Run, render

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ANALYST = "bench-analyst"
out = Terminal(highlight=False)


def login_url(url: str, role: str, password: str) -> str:
    """*url* with *role* and *password* as its user."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(role, safe='')}:{quote(password, safe='')}@{host}"))


def _token(base_url: str, password: str) -> str:
    response = httpx.post(base_url + "/api/v1/auth/login", json={"username": ANALYST, "password": password})
    if response.status_code != 200:
        raise QueryBenchError(f"The analyst could not log in ({response.status_code}): {response.text[:200]}")
    return str(response.json()["access_token"])


def bench_query(
    devices: Annotated[int, typer.Option(min=1, max=100_000, help="Air-quality stations.")] = 1000,
    days: Annotated[int, typer.Option(min=1, max=60, help="Days of 1-minute readings.")] = 30,
    repeat: Annotated[int, typer.Option(min=1, max=1000, help="Bucketed queries measured.")] = 30,
    export_rows: Annotated[int, typer.Option(
        min=1, help="Rows of the Parquet export (at most all generated).")] = 10_000_000,
    read_rows: Annotated[int, typer.Option(
        min=1, help="Rows read into a DataFrame by the client and by read_sql.")] = 1_000_000,
    read_repeat: Annotated[int, typer.Option(min=1, max=20, help="Runs of each reader.")] = 3,
    doc: Annotated[Path, typer.Option(help="Markdown file whose Query and export section to replace.")]
    = Path("docs/benchmarks.md"),
    write: Annotated[bool, typer.Option(help="Write the figures into --doc.")] = True,
) -> None:
    """Measure the data scientists' paths: bucketed rows p99, Parquet export, client vs read_sql."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    server = load_settings().database_url or DEFAULT_SERVER
    data = plan(devices, days)
    logs = Path(tempfile.mkdtemp(prefix="cityhub-bench-query-"))
    password = secrets.token_urlsafe(16)
    with scratch_database(server, "cityhub_bench_query", load_catalogue()) as url:
        began = time.monotonic()
        generate(url, data)
        generate_s = time.monotonic() - began
        with psycopg.connect(url, autocommit=True) as conn:
            add_user(conn, ANALYST, "analyst", password, actor="bench")
        with analyst_login(url) as (role, role_password), Console(url, logs / "console.log") as console:
            wait_ready(console)
            out.print(f"console running on {console.base_url}; log in {logs}")
            token = _token(console.base_url, password)
            with httpx.Client(base_url=console.base_url, timeout=600.0,
                              headers={"Authorization": f"Bearer {token}"}) as http:
                out.print("bucketed queries …")
                everyone = measure.bucketed(http, data, repeat)
                one = measure.bucketed(http, data, repeat, device=data.device(devices // 2))
                out.print("Parquet export …")
                exported = measure.export(http, console, data, export_rows, logs / "export.parquet")
                os.unlink(logs / "export.parquet")
            out.print("client read() against pandas.read_sql …")
            compared = measure.compare(console.base_url, (ANALYST, password),
                                       login_url(url, role, role_password), data, read_rows, read_repeat)
    run = Run(data, everyone, one, exported, compared, generate_s)
    out.print(run.table())
    if write:
        command = (f"cityhub bench query --devices {devices} --days {days} --repeat {repeat} "
                   f"--export-rows {export_rows} --read-rows {read_rows} --read-repeat {read_repeat}")
        current = doc.read_text(encoding="utf-8") if doc.exists() else ""
        doc.write_text(replace_section(current, render(run, command), HEADING), encoding="utf-8")
        out.print(f"wrote the {HEADING.lstrip('# ')} section of {doc}")
