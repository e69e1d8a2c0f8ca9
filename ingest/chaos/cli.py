"""`cityhub bench chaos`: every fault scenario at full length, and the table of counts."""

from __future__ import annotations

import logging
import shlex
import sys
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from hub.bench.database import DEFAULT_SERVER
from hub.bench.machine import describe
from hub.bench.processes import terminate_as_interrupt
from hub.catalogue import load_catalogue
from hub.cli.common import console
from hub.embedded import mosquitto_binary
from hub.errors import ConfigError
from hub.pseudonym import ensure_keys
from hub.scratch import scratch_database
from ingest.chaos import report
from ingest.chaos.errors import Unsupported
from ingest.chaos.lab import Lab, Outcome, Scale
from ingest.chaos.postgres import PrivatePostgres
from ingest.chaos.scenarios import PRIVATE_SERVER, SCENARIOS

log = logging.getLogger(__name__)



def bench_chaos(
    only: Annotated[list[str] | None, typer.Option(
        help=f"Run only these scenarios (repeat the option): {', '.join(SCENARIOS)}.")] = None,
    rate: Annotated[float, typer.Option(min=1, max=5000, help="Readings a second.")] = 500.0,
    fault: Annotated[float, typer.Option(min=1, max=600, help="Seconds each fault lasts "
                                                               "(database down, disk full, worker dead).")]
    = 60.0,
    lead: Annotated[float, typer.Option(min=1, max=600, help="Seconds of streaming before a "
                                                              "fault and after its repair.")] = 10.0,
    devices: Annotated[int, typer.Option(min=1, max=1000, help="Devices publishing.")] = 20,
    queue_limit: Annotated[int, typer.Option(
        min=1, help="max_queued_messages of the slow-consumer scenario's broker.")] = 1000,
    admin_url: Annotated[str, typer.Option(
        help="Server on which to create the throw-away database.")] = DEFAULT_SERVER,
    docs: Annotated[Path, typer.Option(help="Write the table into this file's Chaos section.")]
    = Path("docs/benchmarks.md"),
    write_docs: Annotated[bool, typer.Option(help="Update the --docs file.")] = True,
) -> None:
    """Inject every fault at full length and count what was lost (docs/chaos.md)."""
    names = list(only or SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ConfigError(f"no such scenario: {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    scale = Scale(rate=rate, lead_s=lead, fault_s=fault, devices=devices, queue_limit=queue_limit)
    command = shlex.join(["cityhub", *sys.argv[1:]])
    outcomes: list[Outcome] = []
    skipped: list[tuple[str, str]] = []
    catalogue = load_catalogue()
    with terminate_as_interrupt(), ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cityhub-chaos-")))
        work.chmod(0o755)
        key_file = work / "pseudonym-keys.json"
        ensure_keys(key_file)
        url = stack.enter_context(scratch_database(admin_url, "cityhub_chaos", catalogue))
        private: PrivatePostgres | None = None
        if PRIVATE_SERVER & set(names):
            try:
                private = PrivatePostgres(work / "postgres")
                stack.callback(private.close)
                private.start()
            except Unsupported as exc:
                skipped += [(n, str(exc)) for n in names if n in PRIVATE_SERVER]
                names = [n for n in names if n not in PRIVATE_SERVER]
        lab = Lab(url, catalogue, key_file, work, private)
        for name in names:
            console.print(f"[bold]{name}[/bold] …")
            try:
                outcome = SCENARIOS[name](lab, scale)
            except Unsupported as exc:
                skipped.append((name, str(exc)))
                console.print(f"  not run: {exc}")
                continue
            outcomes.append(outcome)
            c = outcome.counts
            console.print(f"  lost {c.lost:,}, duplicated {c.duplicated:,}, recovered "
                          f"{c.recovered:,}, unexpected {c.unexpected:,} "
                          f"({outcome.seconds:.0f} s)")
        machine = describe(url, mosquitto_binary() or "mosquitto")
    console.print(report.table(outcomes, skipped))
    if write_docs:
        section = report.markdown(outcomes, skipped, scale, machine, command, datetime.now(UTC))
        report.write_docs(docs, section)
        console.print(f"figures written to {docs}")
    if any(not o.within_bound for o in outcomes):
        raise typer.Exit(1)
