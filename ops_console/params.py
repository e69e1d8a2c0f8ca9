"""Parsing query parameters: time ranges, bucket widths, page cursors (pure, no I/O).

Every function raises :class:`hub.errors.InvalidInput` with a sentence saying what
was wrong, which the app answers with 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import urlencode

from hub.errors import InvalidInput
from hub.timeparse import BadTimestamp, parse_user_time

MAX_RANGE = timedelta(days=3660)
_BUCKET = re.compile(r"(?P<n>[1-9][0-9]{0,6})(?P<unit>s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(name: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_user_time(value)
    except BadTimestamp as exc:
        raise InvalidInput(f"{name}: {exc}.") from None


def time_range(start: str | None, end: str | None, *, now: datetime,
               default_span: timedelta) -> tuple[datetime, datetime]:
    """``[from, to)`` from optional ISO-8601 strings; to defaults to now."""
    upper = parse_time("to", end) or now
    lower = parse_time("from", start) or upper - default_span
    if lower >= upper:
        raise InvalidInput(f"from ({lower.isoformat()}) must be earlier than to ({upper.isoformat()}).")
    if upper - lower > MAX_RANGE:
        raise InvalidInput("The time range is longer than ten years; narrow it.")
    return lower, upper


def parse_bucket(value: str) -> timedelta:
    """A bucket width such as ``30s``, ``5m``, ``1h`` or ``1d`` (or plain seconds)."""
    text = value.strip().lower()
    if text.isdigit() and int(text) > 0:
        seconds = int(text)
    else:
        match = _BUCKET.fullmatch(text)
        if match is None:
            raise InvalidInput(f"bucket {value!r} is not a width like 30s, 5m, 1h or 1d.")
        seconds = int(match["n"]) * _UNIT_SECONDS[match["unit"]]
    if seconds > 366 * 86400:
        raise InvalidInput("bucket is longer than a year.")
    return timedelta(seconds=seconds)


def query_target(resource: str, filters: Mapping[str, str | int | None]) -> str:
    """An audit target naming a read: ``events?zone=jung-gu&to=…`` (filters given, in order)."""
    given = {k: v for k, v in filters.items() if v is not None}
    return f"{resource}?{urlencode(given)}" if given else resource


def encode_cursor(values: list[object]) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, shape: tuple[type, ...]) -> list[object]:
    """The values of a cursor made by :func:`encode_cursor`, checked against *shape*."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidInput("cursor is not valid; pass next_cursor from the previous page.") from None
    if (not isinstance(values, list) or len(values) != len(shape)
            or not all(isinstance(v, t) for v, t in zip(values, shape, strict=True))):
        raise InvalidInput("cursor is not valid; pass next_cursor from the previous page.")
    return values


def cursor_time(value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("cursor is not valid; pass next_cursor from the previous page.") from None
    if parsed.tzinfo is None:
        raise InvalidInput("cursor is not valid; pass next_cursor from the previous page.")
    return parsed
