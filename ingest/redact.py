"""What of a rejected payload may be kept: never a personal value in the clear.

Redaction works on the *parsed* document, with the catalogue's rules, so that key
spellings (``"licence\\u005fplate"``), duplicate keys and values of any JSON type are
seen as the validator sees them:

- a field some kind marks personal keeps only its pseudonym (a string or integer), or
  a marker ``{"redacted": "<json type>"}`` (a list, an object, a float …);
- on a device whose kind has personal fields (cctv, smart_meter), and wherever the
  kind is not known (unknown device, bad topic, gateway children not registered), a
  value is kept only under a key the kind declares non-personal and only if it is of
  the declared sort (a number for a metric, a valid time for ``ts``, a declared event
  for ``type``); every other value becomes a marker;
- on such a kind a key is kept only if it is a name the hub knows (a metric, field or
  event of any kind, ``ts``/``type``/``values``/``confidence``/``subject``, FIWARE's
  vocabulary); any other key is renamed ``(key 1)``, ``(key 2)`` …, as a device may use
  a plate itself as a key (``{"12가3456": 1}``);
- a kind without personal fields (air_quality) keeps the rest of its document.

A payload that could not be parsed (or is too deep, too large, or not JSON at all) is
not kept for a kind with personal fields or an unknown one: only its length and a
keyed fingerprint. For a kind without personal fields its first 4 KiB are kept.
The strings replaced are also removed from the reason sentence, which is what goes
to the device, the logs and the dead letter. A pseudonym passes through
pseudonymisation unchanged, so a replayed dead letter stores what the original would
have, and a marker still fails validation, so it is never stored as a value.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from hub.catalogue import Catalogue, Kind
from hub.fiware_units import ATTRIBUTES as FIWARE_ATTRIBUTES
from hub.pseudonym import PseudonymKeys
from hub.timeparse import BadTimestamp, parse_ts

# A parsed payload larger than this is not walked and kept, only fingerprinted.
MAX_KEPT_BYTES = 1 << 20
# What is kept of a payload that is not JSON, on a kind without personal fields.
UNPARSED_PREFIX_BYTES = 4096
MAX_REASON_CHARS = 1000

_encoder = msgspec.json.Encoder()
_NUMBER_KEYS = frozenset({"confidence"})
_REDACTED = "…"
# Key names kept on a strict kind besides the catalogue's: the payload contract's own and
# FIWARE's (an AirQualityObserved entity sent to the wrong device still shows its shape).
_CONTRACT_KEYS = frozenset({"ts", "type", "values", "confidence", "subject"})
_FIWARE_KEYS = frozenset({"id", "dateObserved", "value", "unitCode", "metadata", "@type",
                          "@value", "@context", "address", "location", "airQualityIndex",
                          "airQualityLevel", "reliability", "source", "dataProvider",
                          *FIWARE_ATTRIBUTES})


@dataclass(frozen=True, slots=True)
class Rules:
    """What a kind's dead letters may keep. *strict*: the kind has personal fields."""

    strict: bool
    numbers: frozenset[str]  # metrics and confidence: numbers are kept
    plain: frozenset[str]  # declared non-personal fields: plain values are kept
    events: frozenset[str]  # event types kept as 'type'


def _rules(kinds: Iterable[Kind], strict: bool) -> Rules:
    numbers: set[str] = set(_NUMBER_KEYS)
    plain: set[str] = set()
    events: set[str] = set()
    for kind in kinds:
        numbers.update(kind.metrics)
        plain.update(f.name for f in kind.fields.values() if not f.personal)
        events.update(kind.events)
    return Rules(strict, frozenset(numbers), frozenset(plain), frozenset(events))


@dataclass(frozen=True, slots=True)
class Redacted:
    payload: bytes
    note: str  # for the dead letter's reason: what was withheld ("" if nothing)
    removed: frozenset[str]  # the strings taken out, to be taken out of reasons too


class Redactor:
    def __init__(self, catalogue: Catalogue, personal: frozenset[str], keys: PseudonymKeys) -> None:
        self._keys = keys
        self._personal = personal | catalogue.personal_fields
        # Fields pseudonymised under a day's key (track ids): a dead letter does not know
        # which day's key the stored rows would use, and a pseudonym under the stable key
        # would join one person's tracks across days, so they keep only a marker.
        self._daily = frozenset().union(*(k.daily_key_fields for k in catalogue.kinds.values()))
        self._kinds = {name: _rules((kind,), bool(kind.personal_fields))
                       for name, kind in catalogue.kinds.items()}
        # A payload whose kind is not known could be any kind's.
        self._unknown = _rules(catalogue.kinds.values(), strict=True)
        self._known_keys = (_CONTRACT_KEYS | _FIWARE_KEYS | self._unknown.numbers
                            | self._unknown.plain | self._unknown.events | self._personal)

    def rules(self, kind: str | None) -> Rules:
        return self._kinds.get(kind, self._unknown) if kind is not None else self._unknown

    def fingerprint(self, payload: bytes) -> str:
        """Keyed, like a pseudonym: a short payload's hash cannot be guessed back."""
        digest = hmac.new(self._keys.keys[self._keys.current], payload, hashlib.sha256)
        return f"pn{self._keys.current}_{digest.hexdigest()[:32]}"

    def unparsed(self, payload: bytes, strict: bool) -> Redacted:
        """What is kept of a payload that was not (or could not safely be) parsed."""
        kept = b"" if strict else payload[:UNPARSED_PREFIX_BYTES]
        if kept == payload:
            return Redacted(kept, "", frozenset())
        what = "withheld" if not kept else f"cut to its first {len(kept)} bytes"
        return Redacted(kept, f"payload of {len(payload)} bytes {what}, "
                              f"fingerprint {self.fingerprint(payload)}", frozenset())

    def parsed(self, payload: bytes, document: object, rules: Rules,
               child_rules: Callable[[str], Rules | None] | None = None) -> Redacted:
        """*document* (parsed from *payload*) with personal values replaced. With
        *child_rules* it is a gateway's payload: each device id maps to its readings, and
        *child_rules* gives a registered child's rules, None for an id not registered —
        which is renamed ``(device n)``: a plate can stand where a device id belongs."""
        if len(payload) > MAX_KEPT_BYTES:
            return self.unparsed(payload, strict=True)
        removed: set[str] = set()
        if child_rules is not None and isinstance(document, dict):
            children: dict[str, object] = {}
            for child, value in document.items():
                child_kind = child_rules(child)
                if child_kind is None:
                    removed.add(child)
                    children[f"(device {len(children) + 1})"] = self._walk(
                        value, self._unknown, removed)
                else:
                    children[child] = self._walk(value, child_kind, removed)
            return Redacted(_encoder.encode(children), "", frozenset(removed))
        kept = self._walk(document, rules, removed)
        return Redacted(_encoder.encode(kept), "", frozenset(removed))

    # -- the walk ------------------------------------------------------------------
    def _walk(self, value: object, rules: Rules, removed: set[str]) -> object:
        if isinstance(value, dict):
            if not rules.strict:
                return {k: self._field(k, v, rules, removed) for k, v in value.items()}
            kept: dict[str, object] = {}
            renamed = 0
            for k, v in value.items():
                if k not in self._known_keys:
                    # A key no kind declares may itself be personal: a plate as a key.
                    removed.add(k)
                    renamed += 1
                    kept[f"(key {renamed})"] = self._field(k, v, rules, removed)
                else:
                    kept[k] = self._field(k, v, rules, removed)
            return kept
        if isinstance(value, list):
            return [self._walk(v, rules, removed) for v in value]
        if not rules.strict or value is None or isinstance(value, bool):
            return value
        return self._mask(value, removed)  # a bare value where a reading or event belongs

    def _field(self, key: str, value: object, rules: Rules, removed: set[str]) -> object:
        if key in self._personal:
            if key in self._daily:
                return self._mask(value, removed)
            if isinstance(value, str | int) and not isinstance(value, bool):
                text = str(value)
                removed.add(text)
                return self._keys.pseudonymise(text)
            return self._mask(value, removed)
        if not rules.strict:
            return self._walk(value, rules, removed)
        if value is None or isinstance(value, bool):
            return value
        declared = (key in rules.numbers or key in rules.plain or key == "ts"
                    or key == "type" or key == "values")
        if isinstance(value, dict | list):
            return self._walk(value, rules, removed) if declared else self._mask(value, removed)
        if _keeps(key, value, rules):
            return value
        return self._mask(value, removed)

    def _mask(self, value: object, removed: set[str]) -> dict[str, str]:
        _collect(value, removed, self._known_keys)
        return {"redacted": _json_type(value)}


def _keeps(key: str, value: object, rules: Rules) -> bool:
    """May this plain value be kept on a strict kind?"""
    number = isinstance(value, int | float)
    if key in rules.numbers:
        return number
    if key == "ts":
        if number:
            return True
        try:
            parse_ts(value)
        except (BadTimestamp, OverflowError):
            return False
        return True
    if key == "type":
        return value in rules.events
    return key in rules.plain


def _collect(value: Any, removed: set[str], known: frozenset[str]) -> None:
    """Add the strings in *value* to *removed*, but for key names the hub knows (``type``
    in a reason stays readable)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in known:
                removed.add(k)
            _collect(v, removed, known)
    elif isinstance(value, list):
        for v in value:
            _collect(v, removed, known)
    elif isinstance(value, str | int) and not isinstance(value, bool):
        removed.add(str(value))


def _json_type(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return "number"


def scrub(reason: str, removed: Iterable[str]) -> str:
    """*reason* without any of the *removed* strings (a reason may quote a value)."""
    for text in removed:
        if len(text) < 3:
            continue  # "1" would mangle "0..100"; nothing that short identifies anyone
        reason = reason.replace(text, _REDACTED)
        quoted = repr(text)[1:-1]
        if quoted != text:
            reason = reason.replace(quoted, _REDACTED)
    return storable(reason)


def storable(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """*text* as PostgreSQL's text type takes it: no NUL, no lone surrogate."""
    text = text[:limit]
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text
