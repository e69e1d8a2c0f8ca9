"""Device timestamps: ISO-8601 with an offset, or epoch milliseconds; times typed by a user.
UTC inside."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hub.errors import InvalidInput

# Epoch milliseconds beyond this are not plausible device times (year 2286).
MAX_EPOCH_MS = 10_000_000_000_000


class BadTimestamp(ValueError):
    """The value is not a usable timestamp; the message says why."""


def parse_ts(value: object) -> datetime:
    """Return a timezone-aware UTC datetime for a device ``ts`` value."""
    if isinstance(value, bool):
        raise BadTimestamp("ts must be an ISO-8601 string or epoch milliseconds, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value < MAX_EPOCH_MS:
            raise BadTimestamp("ts in epoch milliseconds is out of range")
        return datetime.fromtimestamp(value / 1000.0, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise BadTimestamp("ts is not an ISO-8601 time (e.g. 2026-05-01T09:00:00+09:00)") from None
        if parsed.tzinfo is None:
            raise BadTimestamp("ts has no UTC offset; add 'Z' or an offset such as '+09:00'")
        return parsed.astimezone(UTC)
    raise BadTimestamp("ts must be an ISO-8601 string or epoch milliseconds")


def parse_user_time(value: str) -> datetime:
    """Parse a time given on the command line; a bare date or time means UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadTimestamp(f"{value!r} is not an ISO-8601 time (e.g. 2026-05-01T09:00Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def option_time(value: str | None, default: datetime, option: str) -> datetime:
    """A command's time option such as ``--from``: ``default`` when not given; a bad value is
    refused with the option's name, so the user knows which one to fix."""
    if value is None:
        return default
    try:
        return parse_user_time(value)
    except BadTimestamp as exc:
        raise InvalidInput(f"{option}: {exc}") from exc
