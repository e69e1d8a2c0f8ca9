"""`cityhub analytics`: run the rules service, or list the rules it evaluates."""

from __future__ import annotations

import asyncio
from typing import Annotated

import psycopg
import typer
from rich.table import Table

from analytics.queries import load_rules
from analytics.rules import Rule
from analytics.service import run_analytics
from hub.cli.common import console, database_url, print_json, service_settings, settings
from hub.errors import DatabaseUnavailable

app = typer.Typer(help="Alert rules: the service that raises alerts from readings and events.")


@app.callback(invoke_without_command=True)
def run(ctx: typer.Context) -> None:
    """Run the analytics service (until Ctrl-C or SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return
    run_analytics(service_settings())


async def _rules(url: str) -> list[Rule]:
    try:
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
            return await load_rules(conn)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"Cannot read the rules: {str(exc).strip().splitlines()[0]}") from exc


@app.command("rules")
def rules_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List the enabled threshold rules and their conditions."""
    rules = asyncio.run(_rules(database_url(settings())))
    if as_json:
        for r in rules:
            print_json({"id": r.id, "title": r.title, "alert_type": r.alert_type,
                        "device_kind": r.device_kind, "metric": r.metric,
                        "conditions": [{"op": c.op, "threshold": c.threshold, "severity": c.severity}
                                       for c in r.conditions]})
        return
    table = Table("rule", "metric", "kind", "conditions", "alert type")
    for r in rules:
        table.add_row(r.id, r.metric, r.device_kind or "any",
                      ", ".join(f"{c.op} {c.threshold:g} → {c.severity}" for c in r.conditions),
                      r.alert_type)
    console.print(table)
