"""`cityhub analytics`: run the rules service; `cityhub analytics rules …` manages the rules."""

from __future__ import annotations

import typer

from analytics import train_cli
from analytics.forecast.cli import app as forecast_app
from analytics.rules_cli import app as rules_app
from analytics.score.cli import score_command
from analytics.service import run_analytics
from hub.cli.common import service_settings

app = typer.Typer(help="Alert rules: the service that raises alerts from readings and events.")
app.add_typer(rules_app, name="rules")
app.add_typer(forecast_app, name="forecast")
app.command("train")(train_cli.train)
app.command("models")(train_cli.models)
app.command("score")(score_command)


@app.callback(invoke_without_command=True)
def run(ctx: typer.Context) -> None:
    """Run the analytics service (until Ctrl-C or SIGTERM)."""
    if ctx.invoked_subcommand is not None:
        return
    run_analytics(service_settings())
