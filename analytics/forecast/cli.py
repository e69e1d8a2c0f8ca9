"""`cityhub analytics forecast …`: train and evaluate the PM2.5 forecast, show a station's.

``train`` fits on the hub's hourly means (``--from``/``--to``, default the last 30 days), or
with ``--simulated DAYS`` on that many days the device simulator makes up for the registered
stations (a demo's or a new deployment's first model; the stored model says so in its
parameters). Either way it prints the held-out MAE per horizon next to persistence's.
``evaluate`` scores a stored version on any range (the hours since it was trained: an
out-of-sample check)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import psycopg
import typer
from rich.table import Table

from analytics.forecast import db
from analytics.forecast.live import MODEL_NAME
from analytics.forecast.model import HorizonScore
from analytics.forecast.train import (
    Trained,
    evaluate_stored,
    fit_history,
    scores_document,
    train,
    train_simulated,
)
from analytics.models.store import list_models
from hub.cli.common import console, database_url, print_json, settings
from hub.errors import DatabaseUnavailable, InvalidInput
from hub.timeparse import option_time

app = typer.Typer(help="PM2.5 forecasts 1-6 h ahead: train and evaluate the model, show a forecast.")
Conn = psycopg.Connection[tuple[Any, ...]]


@contextmanager
def _connect() -> Iterator[Conn]:
    try:
        conn = psycopg.connect(database_url(settings()), connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"Cannot reach the hub: {str(exc).strip().splitlines()[0]}") from exc
    with conn:
        yield conn


def score_table(scores: tuple[HorizonScore, ...], title: str) -> Table:
    table = Table("horizon", "rows", "MAE (µg/m³)", "persistence MAE", "skill", title=title)
    for s in scores:
        table.add_row(f"{s.horizon} h", str(s.rows), f"{s.mae:.2f}", f"{s.persistence_mae:.2f}",
                      f"{s.skill:+.0%}")
    return table


def print_trained(trained: Trained) -> None:
    info = trained.info
    console.print(score_table(trained.model.scores, f"{info.name} version {info.version}: held-out MAE"))
    console.print(f"trained on {info.trained_from:%Y-%m-%d %H:%M}Z – {info.trained_to:%Y-%m-%d %H:%M}Z; "
                  "skill = 1 − MAE / persistence MAE (above 0: better than persistence)")


def trainer(conn: Conn, start: datetime, end: datetime) -> tuple[object, dict[str, Any], dict[str, Any]]:
    """``pm25-forecast`` for `cityhub analytics train` (analytics/train_cli.py)."""
    model, params = fit_history(conn, start, end, tz=settings().ops_timezone)
    return model, scores_document(model.scores), params


@app.command("train")
def train_command(
    start: Annotated[str | None, typer.Option("--from", help="ISO-8601; default 30 days ago.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO-8601; default now.")] = None,
    holdout: Annotated[float, typer.Option(min=0.05, max=0.5, help="Share of the newest hours held "
                                                                  "out for the scores.")] = 0.2,
    simulated: Annotated[float | None, typer.Option(
        min=3, max=365, help="Train on this many days of simulated history of the registered "
                             "stations instead of the hub's.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated history.")] = 1,
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing if a model is stored "
                                                                  "already (`cityhub up`).")] = False,
) -> None:
    """Train the forecast, store it as a new version of pm25-forecast, print its scores."""
    now = datetime.now(UTC)
    # The options first: a mistake in them is reported before any connection is tried.
    since = option_time(start, now - timedelta(days=30), "--from")
    until = option_time(end, now, "--to")
    if simulated is None and until <= since:
        raise InvalidInput("--to must be after --from.")
    tz = settings().ops_timezone
    with _connect() as conn:
        if if_missing and list_models(conn, MODEL_NAME):
            console.print(f"{MODEL_NAME} is trained already; nothing to do")
            return
        if simulated is not None:
            trained = train_simulated(conn, simulated, tz=tz, seed=seed, holdout=holdout, created_by="cli")
        else:
            trained = train(conn, since, until, tz=tz, holdout=holdout, created_by="cli")
    print_trained(trained)


@app.command("evaluate")
def evaluate_command(
    start: Annotated[str, typer.Option("--from", help="ISO-8601; a bare time is UTC.")],
    end: Annotated[str | None, typer.Option("--to", help="ISO-8601; default now.")] = None,
    version: Annotated[int | None, typer.Option(min=1, help="A stored version; default the newest.")] = None,
) -> None:
    """Score a stored model on the hub's hours (e.g. those since it was trained) against persistence."""
    since = option_time(start, datetime.now(UTC), "--from")
    until = option_time(end, datetime.now(UTC), "--to")
    if until <= since:
        raise InvalidInput("--to must be after --from.")
    with _connect() as conn:
        info, scores = evaluate_stored(conn, since, until, version)
    console.print(score_table(tuple(scores), f"{info.name} version {info.version} on "
                              f"{since:%Y-%m-%d %H:%M}Z – {until:%Y-%m-%d %H:%M}Z"))


@app.command("show")
def show_command(
    device: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per horizon.")] = False,
) -> None:
    """A station's newest forecast run."""

    async def work() -> list[db.StoredForecast]:
        async with await psycopg.AsyncConnection.connect(database_url(settings()), autocommit=True) as conn:
            return await db.latest(conn, device)

    found = asyncio.run(work())
    if as_json:
        for f in found:
            print_json({"made_at": f.made_at.isoformat(), "target_at": f.target_at.isoformat(),
                        "horizon_h": f.horizon_h, "value": f.value, "model_version": f.model_version})
        return
    if not found:
        console.print(f"no forecast for {device} yet")
        return
    table = Table("hour (UTC)", "horizon", "PM2.5 (µg/m³)", title=f"{device}: forecast made "
                  f"{found[0].made_at:%Y-%m-%d %H:%M}Z, model version {found[0].model_version}")
    for f in found:
        table.add_row(f"{f.target_at:%H:%M}–{f.target_at + timedelta(hours=1):%H:%M}", f"+{f.horizon_h} h",
                      f"{f.value:.1f}")
    console.print(table)
