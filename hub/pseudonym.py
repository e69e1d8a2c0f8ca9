"""Keyed pseudonyms for identifiers that point at people.

A pseudonym is ``pn<version>_<32 hex>``: HMAC-SHA256 of the value under the key of that
version, truncated to 128 bits. Keys live in a JSON file outside the database
(``CITYHUB_PSEUDONYM_KEY_FILE``)::

    {"current": 2, "keys": {"1": "<64 hex>", "2": "<64 hex>"}}

Rotation adds a version and makes it current; old versions stay so that earlier
pseudonyms can still be matched by whoever holds the file (the administrator).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hub.errors import PseudonymKeyError

_PSEUDONYM = re.compile(r"pn[0-9]+_[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class PseudonymKeys:
    current: int
    keys: Mapping[int, bytes]

    def pseudonymise(self, value: str) -> str:
        """The current pseudonym of *value*; a value that is already a pseudonym is kept."""
        if is_pseudonym(value):
            return value
        digest = hmac.new(self.keys[self.current], value.encode("utf-8"), hashlib.sha256)
        return f"pn{self.current}_{digest.hexdigest()[:32]}"


def is_pseudonym(value: str) -> bool:
    return _PSEUDONYM.fullmatch(value) is not None


def _parse(document: object, path: Path) -> PseudonymKeys:
    try:
        assert isinstance(document, dict)
        keys = {int(version): bytes.fromhex(key) for version, key in document["keys"].items()}
        current = int(document["current"])
    except (AssertionError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise PseudonymKeyError(
            f"The pseudonym key file {path} is malformed; expected "
            '{"current": 1, "keys": {"1": "<64 hex characters>"}}.'
        ) from exc
    if current not in keys or any(len(k) < 32 for k in keys.values()):
        raise PseudonymKeyError(
            f"The pseudonym key file {path} must hold the current version and keys of 32 bytes."
        )
    return PseudonymKeys(current, keys)


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
    document = {"current": keys.current, "keys": {str(v): k.hex() for v, k in keys.keys.items()}}
    tmp = path.with_suffix(".tmp")
    # The key links pseudonyms back to people: readable by its owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    os.replace(tmp, path)


def ensure_keys(path: Path) -> PseudonymKeys:
    """Load the key file, creating it with a fresh key when it does not exist."""
    if not path.exists():
        _write(path, PseudonymKeys(1, {1: secrets.token_bytes(32)}))
    return load_keys(path)


def rotate_keys(path: Path) -> PseudonymKeys:
    """Add a new key version and make it current."""
    keys = load_keys(path)
    version = max(keys.keys) + 1
    rotated = PseudonymKeys(version, {**keys.keys, version: secrets.token_bytes(32)})
    _write(path, rotated)
    return rotated
