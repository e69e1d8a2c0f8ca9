"""`cityhub bench ingest`: ingest's throughput, latency and CPU per message, against a
naive consumer, on this machine."""

from __future__ import annotations

import shlex
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hub.bench.database import DEFAULT_SERVER
from hub.bench.processes import terminate_as_interrupt
from hub.cli.common import console
from ingest.bench import report, scaling
from ingest.bench.config import BenchConfig, parse_workers
from ingest.bench.runner import run_bench


class MqttProtocol(StrEnum):
    v5 = "5"
    v311 = "3.1.1"



def bench_ingest(
    devices: Annotated[int, typer.Option(min=1, help="Devices publishing (behind gateways with "
                                                     "--gateway-batch).")] = 1000,
    rate: Annotated[float, typer.Option(min=0.001, help="Messages per second, all together.")]
    = 15_000.0,
    duration: Annotated[float, typer.Option(min=0.1, help="Seconds of publishing.")] = 20.0,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Messages per commit.")] = 2000,
    readings_per_message: Annotated[int, typer.Option(
        min=1, max=10_000, help="Readings in each device message (an array when above 1).")] = 1,
    gateway_batch: Annotated[int, typer.Option(
        min=0, max=10_000, help="Publish from gateways, each message holding this many readings "
                                "(one for each device behind it); 0 = devices publish.")] = 0,
    window: Annotated[int, typer.Option(min=1, max=65_000,
                                        help="Unacknowledged messages the publisher allows.")] = 2000,
    naive: Annotated[bool, typer.Option(help="Also measure the naive consumer.")] = True,
    mqtt_protocol: Annotated[MqttProtocol, typer.Option(
        help="The MQTT version ingest speaks (CITYHUB_MQTT_PROTOCOL).")] = MqttProtocol.v5,
    database_url: Annotated[str | None, typer.Option(
        help="Use this database (its bench rows are removed after) instead of a throw-away one.",
    )] = None,
    admin_url: Annotated[str, typer.Option(
        help="Server on which to create the throw-away database.")] = DEFAULT_SERVER,
    docs: Annotated[Path, typer.Option(help="Write the figures into this file's Ingest section.")]
    = Path("docs/benchmarks.md"),
    write_docs: Annotated[bool, typer.Option(help="Update the --docs file.")] = True,
    workers: Annotated[str, typer.Option(
        help="Ingest worker processes (`cityhub ingest --workers`), comma-separated: one ingest "
             "trial for each count, e.g. 1,2; with more than one, a model for more cores.")] = "1",
) -> None:
    """Measure ingest throughput, latency and CPU per message."""
    config = BenchConfig(devices, rate, duration, batch, readings_per_message, gateway_batch,
                         window, naive, mqtt_protocol.value, parse_workers(workers))
    config.check()
    command = shlex.join(["cityhub", *sys.argv[1:]])
    console.print(f"{config.title}: {config.messages:,} messages from {devices:,} devices")
    with terminate_as_interrupt():
        result = run_bench(config, database_url, admin_url)
    console.print(report.table(result))
    if len(result.by_workers) > 1:
        console.print(scaling.table(result.by_workers))
    if write_docs:
        report.write_docs(docs, result, command)
        console.print(f"figures written to {docs}")
