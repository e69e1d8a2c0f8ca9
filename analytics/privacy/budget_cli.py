"""`cityhub privacy budget DATASET [EPSILON]`: show or set a dataset's epsilon budget."""

from __future__ import annotations

from typing import Annotated

import psycopg
import typer
from rich.table import Table

from analytics.privacy import ledger
from analytics.privacy.cli import app
from hub import audit
from hub.cli.common import console, database_url, print_json, settings
from hub.db import connection
from hub.errors import DatabaseUnavailable


def _show(budget: ledger.Budget | None, dataset: str, spends: tuple[ledger.Spend, ...],
          as_json: bool) -> None:
    if as_json:
        print_json({
            "dataset": dataset,
            "total": None if budget is None else budget.total,
            "spent": sum(s.epsilon for s in spends), "remaining": 0.0 if budget is None else budget.remaining,
            "spends": [{"epsilon": s.epsilon, "purpose": s.purpose, "spent_by": s.spent_by,
                        "spent_at": s.spent_at.isoformat()} for s in spends],
        })
        return
    if budget is None:
        console.print(f"{dataset}: no epsilon budget is set, so nothing may be spent on it.")
        return
    console.print(f"{dataset}: epsilon {budget.remaining:g} remains of {budget.total:g} "
                  f"({budget.spent:g} spent; set by {budget.set_by} at "
                  f"{budget.updated_at:%Y-%m-%d %H:%M %Z}).")
    if spends:
        table = Table("spent at", "epsilon", "by", "purpose", title="Spends, oldest first")
        for s in spends:
            table.add_row(f"{s.spent_at:%Y-%m-%d %H:%M:%S %Z}", f"{s.epsilon:g}", s.spent_by, s.purpose)
        console.print(table)


@app.command("budget")
def budget_command(
    dataset: Annotated[str, typer.Argument(help="The dataset, e.g. cctv_event_counts_dp.")],
    epsilon: Annotated[float | None, typer.Argument(
        help="Set the dataset's total budget to this epsilon (never below what it has spent).",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Show a dataset's epsilon budget and its spends, or set its total."""
    try:
        with connection(database_url(settings()), application_name="cityhub-privacy") as conn:
            if epsilon is not None:
                before = ledger.budget(conn, dataset)
                with conn.transaction():
                    ledger.set_budget(conn, dataset, epsilon)
                    # Who changed how much privacy may be spent is part of the legal record.
                    audit.append(conn, actor="cli", action="privacy.budget_set", target=dataset,
                                 details={"total": epsilon,
                                          "previous": None if before is None else before.total})
            _show(ledger.budget(conn, dataset), dataset, tuple(ledger.spends(conn, dataset)), as_json)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"Cannot reach the epsilon ledger: {str(exc).strip().splitlines()[0]}") from exc
