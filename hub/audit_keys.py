"""The audit chain's key file, kept outside the database.

Rows written since migration 0018 are chained with HMAC-SHA-256 under a key the database
never sees, so someone who can write to the database cannot recompute a valid chain.
The file (``CITYHUB_AUDIT_KEY_FILE``, default ``audit-keys.json`` in the state directory)
holds numbered versions, like the pseudonym key file::

    {"current": 1, "keys": {"1": "<64 hex>"}, "created": {"1": "2026-12-03T10:00:00+00:00"}}

Each row records the version it was keyed under, so rotating adds a version and keeps
the old ones: whoever verifies needs every version that rows name.

Appenders find the file through the process's ``CITYHUB_*`` environment (every cityhub
process is configured from it) and create it on first use, mode 0600; with services on
more than one host, create it once (``cityhub audit key init``) and give every host the
same file. Verification only reads it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.errors import ConfigError
from hub.settings import Settings, load_settings

log = logging.getLogger(__name__)

DEFAULT_FILE = "audit-keys.json"
_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class AuditKeys:
    current: int
    keys: dict[int, bytes]
    created: dict[int, str]
    path: Path

    def key(self, version: int) -> bytes | None:
        return self.keys.get(version)


def key_file(settings: Settings) -> Path:
    return settings.audit_key_file or settings.state_dir / DEFAULT_FILE


def _parse(document: object, path: Path) -> AuditKeys:
    try:
        assert isinstance(document, dict)
        keys = {int(v): bytes.fromhex(k) for v, k in document["keys"].items()}
        current = int(document["current"])
        created = {int(v): str(t) for v, t in document.get("created", {}).items()}
    except (AssertionError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"The audit key file {path} is malformed; expected "
                          '{"current": 1, "keys": {"1": "<64 hex characters>"}}.') from exc
    if current not in keys or any(len(k) < _KEY_BYTES for k in keys.values()):
        raise ConfigError(f"The audit key file {path} must hold its current version and keys "
                          f"of {_KEY_BYTES} bytes.")
    return AuditKeys(current, keys, created, path)


# Appends happen per request: reread the file only when it changes (a rotation).
_cache: dict[Path, tuple[tuple[int, int], AuditKeys]] = {}


def load(path: Path) -> AuditKeys | None:
    """The keys in *path*, or None when there is no such file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    stamp = (info.st_mtime_ns, info.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Cannot read the audit key file {path}: {exc}.") from exc
    keys = _parse(document, path)
    _cache[path] = (stamp, keys)
    return keys


def _write_new(path: Path, keys: dict[int, bytes], created: dict[int, str], current: int,
               *, replace: bool) -> bool:
    """Write the file (atomically); False when another process made it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"current": current, "keys": {str(v): k.hex() for v, k in keys.items()},
                "created": {str(v): t for v, t in created.items()}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False  # another process made the file meanwhile: its key wins
        return True
    finally:
        tmp.unlink(missing_ok=True)


def ensure(path: Path) -> AuditKeys:
    """The keys in *path*, creating the file with a fresh key when there is none."""
    keys = load(path)
    if keys is not None:
        return keys
    now = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        made_here = _write_new(path, {1: secrets.token_bytes(_KEY_BYTES)}, {1: now}, 1, replace=False)
    except OSError as exc:
        raise ConfigError(f"Cannot make the audit key file {path} ({exc.strerror}); set "
                          "CITYHUB_AUDIT_KEY_FILE to the deployment's key file.") from exc
    if made_here:
        # Two processes with two key files write a chain neither can verify alone: say so once.
        log.warning("made the audit key file %s; every process that appends to the audit log "
                    "must use this same file (CITYHUB_AUDIT_KEY_FILE)", path)
    made = load(path)
    assert made is not None
    return made


def rotate(path: Path) -> AuditKeys:
    """Add a version and make it current; rows keep verifying under the versions they name."""
    keys = load(path)
    if keys is None:
        raise ConfigError(f"There is no audit key file at {path}; `cityhub audit key init` makes one.")
    version = max(keys.keys) + 1
    now = datetime.now(UTC).isoformat(timespec="seconds")
    _write_new(path, {**keys.keys, version: secrets.token_bytes(_KEY_BYTES)},
               {**keys.created, version: now}, version, replace=True)
    rotated = load(path)
    assert rotated is not None
    return rotated


# Settings are validated once per process, but tests and `CliRunner` change the environment
# in between; the key file depends on these two variables only.
_paths: dict[tuple[str | None, str | None], Path] = {}


def process_key_file() -> Path:
    """This process's key file, from its ``CITYHUB_*`` environment."""
    marker = (os.environ.get("CITYHUB_AUDIT_KEY_FILE"), os.environ.get("CITYHUB_STATE_DIR"))
    path = _paths.get(marker)
    if path is None:
        path = _paths[marker] = key_file(load_settings())
    return path


def for_append() -> AuditKeys:
    """The keys of this process, made on first use."""
    return ensure(process_key_file())


def for_verify() -> AuditKeys | None:
    """The keys of this process, if its key file exists; verification never makes one."""
    return load(process_key_file())
