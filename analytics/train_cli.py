"""`cityhub analytics train` and `cityhub analytics models`: fit the detectors' models on the
hub's history and store them (analytics/models/store.py); the live service picks the new
versions up within ``MODEL_POLL_S`` without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics.forecast.cli import trainer as forecast_trainer
from analytics.forecast.live import MODEL_NAME as FORECAST
from analytics.models import meters_train, sensor_fault_train
from analytics.models.errors import NotEnoughHistory
from analytics.models.sensor_fault import FaultParams
from analytics.models.store import ModelInfo, list_models, save_model
from hub.cli.common import console, database_url, errors, print_json, settings
from hub.db import connection
from hub.errors import HubError, InvalidInput
from hub.timeparse import option_time

ACTOR = "cli"
DEFAULT_DAYS = 7
Conn = Any
Trainer = Callable[[Conn, datetime, datetime], tuple[object, dict[str, Any], dict[str, Any]]]


def _fault(conn: Conn, start: datetime, end: datetime) -> tuple[object, dict[str, Any], dict[str, Any]]:
    params = FaultParams()
    frame = sensor_fault_train.history(conn, start, end, params.metrics)
    model, scores = sensor_fault_train.train(frame, sensor_fault_train.sites(conn), params)
    return model, scores, {"metrics": list(params.metrics), "spike_z": params.spike_z,
                           "drift_z": params.drift_z}


def _meters(conn: Conn, start: datetime, end: datetime) -> tuple[object, dict[str, Any], dict[str, Any]]:
    model, scores = meters_train.train(meters_train.history(conn, start, end))
    p = model.params
    return model, scores, {"theft_ratio": p.theft_ratio, "theft_hours": p.theft_hours,
                           "welfare_hours": p.welfare_hours}


TRAINERS: dict[str, Trainer] = {sensor_fault_train.NAME: _fault, meters_train.NAME: _meters,
                                 FORECAST: forecast_trainer}


def _table(infos: list[ModelInfo], title: str) -> Table:
    table = Table("model", "version", "trained on", "scores", "created", title=title)
    for m in infos:
        table.add_row(m.name, str(m.version),
                      f"{m.trained_from:%Y-%m-%d %H:%M} → {m.trained_to:%Y-%m-%d %H:%M}",
                      ", ".join(f"{k} {v}" for k, v in m.scores.items()),
                      f"{m.created_at:%Y-%m-%d %H:%M} by {m.created_by}")
    return table


def _json(m: ModelInfo) -> dict[str, Any]:
    return {"name": m.name, "version": m.version, "trained_from": m.trained_from.isoformat(),
            "trained_to": m.trained_to.isoformat(), "scores": dict(m.scores), "params": dict(m.params),
            "created_at": m.created_at.isoformat(), "created_by": m.created_by, "size_bytes": m.size_bytes}


def train(
    start: Annotated[str | None, typer.Option("--from", help="Start of the history (ISO-8601); "
                                              f"default {DEFAULT_DAYS} days before --to.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End of the history; default now.")] = None,
    model: Annotated[list[str] | None, typer.Option(
        "--model", help=f"Only this model (repeatable): {', '.join(TRAINERS)}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Train the anomaly detectors' models on the hub's history and store new versions."""
    names = model or list(TRAINERS)
    unknown = [n for n in names if n not in TRAINERS]
    if unknown:
        raise InvalidInput(f"Unknown model {', '.join(unknown)}; models: {', '.join(TRAINERS)}.")
    to = option_time(end, datetime.now(UTC), "--to")
    since = option_time(start, to - timedelta(days=DEFAULT_DAYS), "--from")
    if since >= to:
        raise InvalidInput("--from must be before --to.")
    stored: list[ModelInfo] = []
    with connection(database_url(settings())) as conn, Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, transient=True, disable=as_json) as progress:
        for name in names:
            task = progress.add_task(f"training {name} on {since:%Y-%m-%d %H:%M} → {to:%Y-%m-%d %H:%M}")
            try:
                fitted, scores, params = TRAINERS[name](conn, since, to)
            except HubError as exc:
                if model:  # asked for by name: its failure is the command's
                    raise
                # Training every model: one short of history must not keep the others back.
                errors.print(f"skipped {name}: {exc}")
                progress.remove_task(task)
                continue
            stored.append(save_model(conn, name, fitted, trained_from=since, trained_to=to, scores=scores,
                                     params=params, created_by=ACTOR))
            progress.update(task, description=f"{name}: stored")
            progress.remove_task(task)
    if not stored:
        raise NotEnoughHistory("No model could be trained from that range (see above).")
    if as_json:
        for m in stored:
            print_json(_json(m))
        return
    console.print(_table(stored, "models trained"))
    console.print("The running analytics service switches to them within a minute.")


def models(
    name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List the stored models: versions, training ranges and scores (newest version first)."""
    with connection(database_url(settings())) as conn:
        infos = list_models(conn, name)
    if as_json:
        for m in infos:
            print_json(_json(m))
        return
    if not infos:
        console.print("No model is stored yet; the detectors use their untrained defaults "
                      "(train with `cityhub analytics train`).")
        return
    console.print(_table(infos, "stored models"))
