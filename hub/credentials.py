"""Tokens and passwords: random, shown once, stored only as hashes.

People's passwords (console accounts) and the service accounts' broker passwords, which
an operator may choose, are argon2 hashes (:func:`hash_password`). Two hashes of each
device token are kept: an HMAC under a server-side key (hub/device_tokens.py, checked by
the hub itself, e.g. the HTTP auth endpoint of EMQX) and Mosquitto's own ``$7$`` format
(PBKDF2-SHA512, as written by ``mosquitto_passwd`` of Mosquitto 2), from which the
broker's password file is made. Console refresh tokens are looked up by their SHA-256
(:func:`token_digest`): they are long random strings, so a slow hash would add nothing.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# mosquitto_passwd's defaults (Mosquitto 2.0 writes 101 rounds and a 12-byte salt, and
# reads the round count from each line). Tokens carry 192 random bits, so more PBKDF2
# rounds would only slow every CONNECT and every import without making a token any
# harder to guess; at 101 rounds a hash costs ~0.1 ms (docs/benchmarks.md).
BROKER_HASH_ITERATIONS = 101
_SALT_BYTES = 12


def new_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """The SHA-256 a random token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    """argon2, slow on purpose: for secrets people choose (device tokens: hub/device_tokens.py)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def dummy_hash() -> str:
    """An argon2 hash of nothing anyone knows, made once on first use.

    A login for an unknown name is checked against it, so a miss costs as long as a wrong
    password and the answer time does not tell which names exist.
    """
    return hash_password(secrets.token_urlsafe(16))


def broker_hash(token: str, *, iterations: int = BROKER_HASH_ITERATIONS, salt: bytes | None = None) -> str:
    """The token in Mosquitto 2's password-file format: ``$7$<iterations>$<salt>$<hash>``."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", token.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_broker_hash(encoded: str, token: str) -> bool:
    """Check *token* against a ``$7$`` hash, as Mosquitto does at CONNECT."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = hashlib.pbkdf2_hmac("sha512", token.encode("utf-8"), salt, int(parts[2]))
    return hmac.compare_digest(digest, expected)
