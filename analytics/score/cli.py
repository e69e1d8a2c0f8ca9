"""`cityhub analytics score`: precision and recall per anomaly type against a ground-truth file.

``cityhub analytics score GROUND_TRUTH [--from --to]`` scores the alerts in the hub against a
simulator run's ground truth (`cityhub simulate --ground-truth FILE`). ``--simulate`` runs the
default scenarios in a throw-away database instead (analytics/score/harness.py) and scores them:
the figures of docs/analytics.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.table import Table

from analytics.score import truth as truth_io
from analytics.score.harness import run_scenarios
from analytics.score.match import EXPECTED, EXPLAINED, Score, score
from hub.catalogue import load_catalogue
from hub.cli.common import console, database_url, print_json, settings
from hub.errors import InvalidInput
from hub.scratch import scratch_database
from hub.timeparse import parse_user_time


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def table(scores: Sequence[Score]) -> Table:
    t = Table(title="Alerts against the ground truth")
    for heading in ("anomaly type", "injected", "detected", "recall", "alerts matched",
                    "false alerts", "precision", "alert types"):
        t.add_column(heading, justify="left" if heading in ("anomaly type", "alert types") else "right")
    for s in scores:
        types = ", ".join(sorted(EXPECTED[s.label].alert_types))
        t.add_row(s.label, str(s.injections), str(s.detected), _figure(s.recall), str(s.true_positives),
                  str(s.false_positives), _figure(s.precision), types)
    return t


def markdown(scores: Sequence[Score]) -> str:
    """The table as docs/analytics.md shows it."""
    lines = ["| anomaly type | injected | detected | recall | alerts matched | false alerts | precision |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {s.label} | {s.injections} | {s.detected} | {_figure(s.recall)} | {s.true_positives} | "
              f"{s.false_positives} | {_figure(s.precision)} |" for s in scores]
    return "\n".join(lines)


def as_json(s: Score) -> dict[str, Any]:
    return {"label": s.label, "injections": s.injections, "detected": s.detected, "recall": s.recall,
            "true_positives": s.true_positives, "false_positives": s.false_positives,
            "precision": s.precision}


async def _score_hub(url: str, path: Path, start: datetime | None, end: datetime | None) -> list[Score]:
    records = truth_io.read_records(path)
    scored = [r for r in records if r["label"] in EXPECTED or r["label"] in EXPLAINED]
    if not any(r["label"] in EXPECTED for r in scored):
        raise InvalidInput(f"{path} holds no injection of a scored type ({', '.join(EXPECTED)}).")
    first = start or min(datetime.fromisoformat(r["start"]) for r in scored)
    last = end or max(datetime.fromisoformat(r["end"]) for r in scored)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        zones = await truth_io.device_zones(conn, sorted({d for r in scored for d in r["device_ids"]}))
        injections = truth_io.injections(scored, zones, first, last)
        alerts = await truth_io.alerts(conn, first, last)
    return score(injections, alerts, until=last)


def score_command(
    ground_truth: Annotated[Path | None, typer.Argument(
        help="A ground-truth JSONL file (`cityhub simulate --ground-truth`); with --simulate, "
             "where to write the simulated one.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="ISO-8601; a bare time is UTC. "
                                              "Default: the first injection.")] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="ISO-8601. Default: the last injection's end.")] = None,
    simulate: Annotated[bool, typer.Option(
        "--simulate", help="Run the default scenarios in a throw-away database (needs CREATEDB) "
                           "and score those.")] = False,
    seed: Annotated[list[int] | None, typer.Option(
        help="The simulation's seed (with --simulate); repeat it to run the scenarios once per "
             "seed (more injections of each type). Default: 7.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per anomaly type.")] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="The table in Markdown.")] = False,
) -> None:
    """Match alerts to injected anomalies: precision and recall per anomaly type."""
    since = parse_user_time(start) if start else None
    until = parse_user_time(end) if end else None
    if since is not None and until is not None and until <= since:
        raise InvalidInput("--to must be after --from.")
    url = database_url(settings())
    if simulate:
        catalogue = load_catalogue(settings().kinds_file)
        with scratch_database(url, "cityhub_score", catalogue) as scratch:
            outcome = asyncio.run(run_scenarios(
                scratch, catalogue, seeds=seed or [7], progress=None if json_out else console.log))
        scores = outcome.scores
        if ground_truth is not None:
            lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in outcome.records)
            ground_truth.write_text("".join(lines), encoding="utf-8")
    elif ground_truth is None:
        raise InvalidInput("Give the ground-truth file to score against, or --simulate.")
    else:
        scores = asyncio.run(_score_hub(url, ground_truth, since, until))
    if json_out:
        for s in scores:
            print_json(as_json(s))
        return
    if as_markdown:
        print(markdown(scores))
        return
    console.print(table(scores))
