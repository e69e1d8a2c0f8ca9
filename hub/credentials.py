"""Device tokens: random, shown once, stored only as argon2 hashes."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def new_token() -> str:
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    return _hasher.hash(token)


def verify_token(token_hash: str, token: str) -> bool:
    try:
        return _hasher.verify(token_hash, token)
    except (VerificationError, InvalidHashError):
        return False
