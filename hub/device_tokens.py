"""Device tokens at rest: HMAC-SHA-256 under a server-side key, argon2 for old rows.

A device token is 192 random bits (:func:`hub.credentials.new_token`), not a password
someone chose: nobody can guess it, so a slow hash adds nothing but cost (argon2 took
~86 ms a device at import and at every EMQX login). What a stolen ``hub.devices`` table
must not give away is a way to log in; an HMAC under a key kept outside the database
gives nothing, and costs a few microseconds. People's passwords stay argon2
(hub/credentials.py).

A stored hash reads ``hmac-sha256$<key id>$<64 hex digits>``. The key id is the first
8 hex digits of an HMAC of a fixed label under the key, so it names the key without
revealing it: when ``CITYHUB_DEVICE_TOKEN_KEY`` changes, a hash made under the old key
is recognised as such (logged, never a silent "wrong token"), and while the old key is
listed in ``CITYHUB_DEVICE_TOKEN_OLD_KEYS`` its devices still log in and are re-hashed
under the new one. Rows from before this scheme hold an argon2 hash (``$argon2id$…``);
they are checked with argon2 and re-hashed on their first successful login
(:func:`check`), so no device has to be re-provisioned.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from hub.credentials import dummy_hash, hash_password, verify_password
from hub.errors import ConfigError
from hub.secret_strength import GENERATE_SECRET, secret_key_problem

SCHEME = "hmac-sha256"
ARGON2_PREFIX = "$argon2"
DEMO_KEY_FILE = "demo-device-token-key"
_KEY_ID_LABEL = b"cityhub device-token key id v1"
# Bound by the key before the token, so the same key used elsewhere by mistake never
# yields these digests.
_DIGEST_LABEL = b"cityhub device-token v1\x00"

log = logging.getLogger(__name__)
_reported_keys: set[str] = set()  # unknown key ids already logged, so a reconnect storm logs one line


@dataclass(frozen=True, slots=True)
class TokenKey:
    id: str
    secret: bytes = field(repr=False)

    @classmethod
    def from_text(cls, text: str) -> TokenKey:
        secret = text.encode("utf-8")
        return cls(hmac.new(secret, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:8], secret)

    def digest(self, token: str) -> str:
        return hmac.new(self.secret, _DIGEST_LABEL + token.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """The current key, which hashes new tokens, and earlier ones still accepted."""

    current: TokenKey
    previous: tuple[TokenKey, ...] = ()

    def hash(self, token: str) -> str:
        return f"{SCHEME}${self.current.id}${self.current.digest(token)}"

    def find(self, key_id: str) -> TokenKey | None:
        return next((k for k in (self.current, *self.previous) if k.id == key_id), None)


@dataclass(frozen=True, slots=True)
class Checked:
    ok: bool
    rehash: str | None = None  # the hash to store instead, when the stored one is outdated


def parse_keys(current: str, previous: str = "") -> TokenKeys:
    """Keys from the settings' text: *current*, and *previous* comma-separated."""
    problem = secret_key_problem(current)
    if problem is not None:
        raise ConfigError(f"CITYHUB_DEVICE_TOKEN_KEY {problem}. Set it to a random value, e.g. "
                          f"`{GENERATE_SECRET}`, the same for every process that registers "
                          "devices or checks their logins (docs/devices.md).")
    key = TokenKey.from_text(current)
    old = tuple(TokenKey.from_text(p.strip()) for p in previous.split(",") if p.strip())
    return TokenKeys(key, tuple(k for k in old if k.id != key.id))


def demo_key(state_dir: Path) -> str:
    """The demo's key, made once in *state_dir* (0600) and kept: `cityhub up` only."""
    path = state_dir / DEMO_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="utf-8").strip()


def hash_new(keys: TokenKeys | None, token: str) -> str:
    """The hash to store for a new token: an HMAC under the current key, or argon2 (slow)
    where no key is set, as before this scheme, so nothing breaks before one is."""
    return keys.hash(token) if keys is not None else hash_password(token)


def check(keys: TokenKeys | None, stored: str, token: str) -> Checked:
    """Does *token* match the *stored* hash? With the hash to store instead when it is an
    argon2 hash or one under an earlier key (and *keys* are known to make a new one)."""
    if stored.startswith(ARGON2_PREFIX):
        ok = verify_password(stored, token)
        return Checked(ok, keys.hash(token) if ok and keys is not None else None)
    scheme, _, rest = stored.partition("$")
    key_id, _, digest = rest.partition("$")
    if scheme != SCHEME or not digest:
        return Checked(False)
    key = keys.find(key_id) if keys is not None else None
    if key is None:
        _report_unknown(key_id, keys)
        return Checked(False)
    ok = hmac.compare_digest(key.digest(token), digest)
    assert keys is not None
    return Checked(ok, keys.hash(token) if ok and key.id != keys.current.id else None)


def check_unknown(keys: TokenKeys | None, token: str) -> None:
    """The work of a check for a name that has no hash, so a miss costs as long as a hit."""
    if keys is None:
        verify_password(dummy_hash(), token)  # argon2, as a hit would cost
        return
    hmac.compare_digest(keys.current.digest(token), "0" * 64)


def _report_unknown(key_id: str, keys: TokenKeys | None) -> None:
    if key_id in _reported_keys:
        return
    _reported_keys.add(key_id)
    if keys is None:
        log.error("device tokens are hashed under key %s but CITYHUB_DEVICE_TOKEN_KEY is not set "
                  "here: every such device is refused (docs/devices.md)", key_id)
    else:
        log.error("a device token hash was made under key %s, which is neither "
                  "CITYHUB_DEVICE_TOKEN_KEY (%s) nor in CITYHUB_DEVICE_TOKEN_OLD_KEYS: such devices "
                  "are refused until that key is listed again (docs/devices.md)", key_id,
                  keys.current.id)
