"""Dead letters keep the payload, but never a personal value in the clear.

Personal fields (by name, across every kind) are replaced by their pseudonyms. A
pseudonym passes through pseudonymisation unchanged, so a replayed dead letter is
stored exactly as the original would have been.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from hub.pseudonym import PseudonymKeys

_encoder = msgspec.json.Encoder()


def _walk(value: Any, personal: frozenset[str], keys: PseudonymKeys) -> Any:
    if isinstance(value, dict):
        return {
            k: keys.pseudonymise(str(v))
            if k in personal and isinstance(v, str | int) and not isinstance(v, bool)
            else _walk(v, personal, keys)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_walk(v, personal, keys) for v in value]
    return value


def redact(payload: bytes, personal: frozenset[str], keys: PseudonymKeys) -> bytes:
    if not personal or not any(name.encode() in payload for name in personal):
        return payload
    try:
        document = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return _redact_text(payload, personal, keys)
    return _encoder.encode(_walk(document, personal, keys))


def _redact_text(payload: bytes, personal: frozenset[str], keys: PseudonymKeys) -> bytes:
    """Best effort for payloads that are not JSON: replace `"field": value` pairs."""
    names = b"|".join(re.escape(n.encode()) for n in sorted(personal))
    pattern = re.compile(rb'("(?:' + names + rb')"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\]\s]+)')

    def replace(match: re.Match[bytes]) -> bytes:
        raw = match.group(2).strip(b'"').decode("utf-8", "replace")
        return match.group(1) + b'"' + keys.pseudonymise(raw).encode() + b'"'

    return pattern.sub(replace, payload)
