"""`cityhub telemetry DEVICE`: print stored readings."""

from __future__ import annotations

from typing import Annotated

import typer

from hub.cli.common import console, database_url, print_json, settings
from hub.db import connection
from hub.errors import InvalidInput
from hub.registry import get_device
from hub.telemetry import iter_readings
from hub.timeparse import BadTimestamp, parse_user_time


def telemetry_command(
    device_id: Annotated[str, typer.Argument(help="Device id.")],
    metric: Annotated[str | None, typer.Option(help="Only this metric.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="ISO-8601 start (inclusive).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO-8601 end (exclusive).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print a device's stored readings in time order."""
    try:
        begin = parse_user_time(start) if start else None
        finish = parse_user_time(end) if end else None
    except BadTimestamp as exc:
        raise InvalidInput(str(exc)) from None
    count = 0
    with connection(database_url(settings())) as conn:
        get_device(conn, device_id)
        for r in iter_readings(conn, device_id, metric=metric, start=begin, end=finish):
            count += 1
            if as_json:
                print_json({"ts": r.ts.isoformat(), "metric": r.metric, "value": r.value})
            else:
                console.print(f"{r.ts.isoformat()}  {r.metric:<12} {r.value:g}")
    if not as_json:
        console.print(f"{count} reading(s)")
