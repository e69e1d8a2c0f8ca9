"""Keyed pseudonyms for identifiers that point at people.

A pseudonym is ``pn<version>_<32 hex>``: HMAC-SHA256 of the value under the key of that
version, truncated to 128 bits. Keys live in a JSON file outside the database
(``CITYHUB_PSEUDONYM_KEY_FILE``)::

    {"current": 2, "keys": {"1": "<64 hex>", "2": "<64 hex>"}}

Rotation adds a version and makes it current; old versions stay so that earlier
pseudonyms can still be matched by whoever holds the file (the administrator). The file
records when each version was made (``"created"``), so ``cityhub keys rotate
--if-older-than 90d`` can run from a timer; a file written before that field existed
counts its current key as made when the file was last written.

Fields the catalogue declares ``"key": "daily"`` (CCTV person track ids) use a *day key*
instead: HMAC-SHA256 of the versioned key and the value's UTC date. The same track has
a different pseudonym on each day, so detections of two days cannot be joined, and the
day keys need no storage: whoever holds the file can derive them again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hub.errors import PseudonymKeyError

_PSEUDONYM = re.compile(r"pn[0-9]+_[0-9a-f]{32}")
# Domain separation: a day key can never equal a pseudonym or another use of the key.
_DAY_KEY_LABEL = b"cityhub/day-key/v1/"
_AGE = re.compile(r"([1-9][0-9]*)([hdw])")
_AGE_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True, slots=True)
class PseudonymKeys:
    current: int
    keys: Mapping[int, bytes]
    created: Mapping[int, datetime] = field(default_factory=dict)  # UTC, per version

    def day_key(self, day: date, version: int | None = None) -> bytes:
        """The key of one UTC day, derived from a versioned key (the current one)."""
        base = self.keys[self.current if version is None else version]
        return hmac.new(base, _DAY_KEY_LABEL + day.isoformat().encode("ascii"), hashlib.sha256).digest()

    def pseudonymise(self, value: str, day: date | None = None) -> str:
        """The current pseudonym of *value* — under the key of *day* (a UTC date) when
        given; a value that is already a pseudonym is kept."""
        if is_pseudonym(value):
            return value
        key = self.keys[self.current] if day is None else self.day_key(day)
        digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256)
        return f"pn{self.current}_{digest.hexdigest()[:32]}"

    def pseudonymise_at(self, value: str, ts: datetime, daily: bool) -> str:
        """As ingest does for a field: under the day key of *ts*'s UTC date if *daily*."""
        return self.pseudonymise(value, ts.astimezone(UTC).date() if daily else None)

    def age(self, now: datetime) -> timedelta | None:
        """How old the current key is; None if the file does not say."""
        made = self.created.get(self.current)
        return None if made is None else now - made


def is_pseudonym(value: str) -> bool:
    return _PSEUDONYM.fullmatch(value) is not None


def parse_age(text: str) -> timedelta:
    """``90d``, ``12w``, ``36h`` as a duration."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise PseudonymKeyError(f"{text!r} is not an age like 90d, 12w or 36h.")
    return int(match.group(1)) * _AGE_UNIT[match.group(2)]


def _parse(document: object, path: Path) -> PseudonymKeys:
    try:
        assert isinstance(document, dict)
        keys = {int(version): bytes.fromhex(key) for version, key in document["keys"].items()}
        current = int(document["current"])
        created = {int(version): datetime.fromisoformat(made).astimezone(UTC)
                   for version, made in document.get("created", {}).items()}
    except (AssertionError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise PseudonymKeyError(
            f"The pseudonym key file {path} is malformed; expected "
            '{"current": 1, "keys": {"1": "<64 hex characters>"}}.'
        ) from exc
    if current not in keys or any(len(k) < 32 for k in keys.values()):
        raise PseudonymKeyError(
            f"The pseudonym key file {path} must hold the current version and keys of 32 bytes."
        )
    if current not in created:  # written before creation dates were kept
        created[current] = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return PseudonymKeys(current, keys, created)


def load_keys(path: Path) -> PseudonymKeys:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PseudonymKeyError(
            f"The pseudonym key file {path} does not exist; create one with "
            "`cityhub keys init` or set CITYHUB_PSEUDONYM_KEY_FILE."
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise PseudonymKeyError(f"Cannot read the pseudonym key file {path}: {exc}.") from exc
    return _parse(document, path)


def _write(path: Path, keys: PseudonymKeys) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"current": keys.current, "keys": {str(v): k.hex() for v, k in keys.keys.items()},
                "created": {str(v): t.isoformat() for v, t in keys.created.items()}}
    tmp = path.with_suffix(".tmp")
    # The key links pseudonyms back to people: readable by its owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    os.replace(tmp, path)


def ensure_keys(path: Path) -> PseudonymKeys:
    """Load the key file, creating it with a fresh key when it does not exist."""
    if not path.exists():
        _write(path, PseudonymKeys(1, {1: secrets.token_bytes(32)}, {1: datetime.now(UTC)}))
    return load_keys(path)


def rotate_keys(path: Path, now: datetime | None = None) -> PseudonymKeys:
    """Add a new key version and make it current."""
    keys = load_keys(path)
    version = max(keys.keys) + 1
    rotated = PseudonymKeys(version, {**keys.keys, version: secrets.token_bytes(32)},
                            {**keys.created, version: now or datetime.now(UTC)})
    _write(path, rotated)
    return rotated


def rotate_if_older(path: Path, max_age: timedelta,
                    now: datetime | None = None) -> tuple[PseudonymKeys, bool]:
    """Rotate when the current key is *max_age* old or older; the keys and whether it did."""
    now = now or datetime.now(UTC)
    keys = load_keys(path)
    age = keys.age(now)
    if age is not None and age < max_age:
        return keys, False
    return rotate_keys(path, now), True
