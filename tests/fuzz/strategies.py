"""Hypothesis strategies for what a device might send: any bytes, JSON-ish documents
built from the hub's own vocabulary (so that they reach deep into the validator), and
byte-level mutations of encoded documents."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone

import msgspec
from hypothesis import strategies as st

from hub.fiware_units import ATTRIBUTES, UNITS
from tests.fuzz.world import CATALOGUE, DEVICES, MS, WINDOW

_KINDS = list(CATALOGUE.kinds.values())
KEYS = sorted({"ts", "values", "type", "confidence", "subject", "id", "dateObserved", "value",
               "unitCode", "metadata", "@type", "@value", "", *ATTRIBUTES, *DEVICES,
               *(m for k in _KINDS for m in k.metrics), *(f for k in _KINDS for f in k.fields)})
WORDS = sorted({"AirQualityObserved", "Property", "DateTime", "Number", "online", "offline",
                *(u for units in UNITS.values() for u in units), "XX",
                *(e for k in _KINDS for e in k.events), *DEVICES})
CHANNELS = ("telemetry", "events", "status")
# Pieces a mutation splices into an encoded document: JSON's escapes, a lone surrogate,
# NUL, numbers past a double, brackets (and too many of them), invalid UTF-8.
SPLICES = (b'"\\ud800"', b"\\u0000", b'"\\u0000"', b"1e400", b"-1e400", b"9" * 400, b"[", b"]",
           b"{", b"}", b",", b":", b'"', b"\\", b"\xff", b"\xc3", b"null", b"NaN", b"-0", b"0.0",
           b"[" * 40, b'{"a":' * 40)


def iso(ts: datetime, offset_minutes: int) -> str:
    """*ts* in ISO-8601 with a UTC offset, as a device would write it."""
    return ts.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()


EPOCH = datetime.fromtimestamp(0, UTC)
# A time the window accepts, as the reading carries it (epoch ms or ISO) and as stored.
_EARLIEST_MS = int(WINDOW.earliest.timestamp() * 1000) + 1
_LATEST_MS = int(WINDOW.latest.timestamp() * 1000)


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[object, datetime]:
    millis = draw(st.integers(_EARLIEST_MS, _LATEST_MS) | st.just(MS))
    if draw(st.booleans()):
        return millis, EPOCH + timedelta(milliseconds=millis)
    micros = draw(st.integers(0, 999)) if draw(st.booleans()) else 0
    when = (EPOCH
            + timedelta(milliseconds=millis, microseconds=micros))
    when = min(when, WINDOW.latest)
    return iso(when, draw(st.integers(-14 * 60, 14 * 60))), when


@functools.cache  # built once: hypothesis validates each new strategy
def scalars() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(), st.booleans(),
        st.integers(-(2**70), 2**70), st.integers(-(10**400), 10**400),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(WORDS), st.text(max_size=12),
        st.integers(_EARLIEST_MS, _LATEST_MS),
        timestamps().map(lambda pair: pair[0]),
    )


@functools.cache
def keys() -> st.SearchStrategy[str]:
    return st.sampled_from(KEYS) | st.text(max_size=8)


@functools.cache
def documents(max_leaves: int = 30) -> st.SearchStrategy[object]:
    """JSON-ish documents: nested lists and objects of the hub's words and anything else."""
    return st.recursive(
        scalars(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys(), inner, max_size=6),
        max_leaves=max_leaves,
    )


def encoded(documents_: st.SearchStrategy[object]) -> st.SearchStrategy[bytes]:
    return documents_.map(msgspec.json.encode)


@st.composite
def mutated(draw: st.DrawFn, payloads: st.SearchStrategy[bytes]) -> bytes:
    """*payloads* with a few bytes deleted, replaced or spliced in."""
    data = bytearray(draw(payloads))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(("delete", "splice", "byte")))
        if action == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif action == "splice":
            data[at:at] = draw(st.sampled_from(SPLICES))
        else:
            data[at:at] = bytes([draw(st.integers(0, 255))])
    return bytes(data)


@functools.cache
def any_bytes() -> st.SearchStrategy[bytes]:
    return st.binary(max_size=300)


@functools.cache
def topics() -> st.SearchStrategy[str]:
    """Topics of the known devices and gateways, of unknown ones, and anything else."""
    device = st.sampled_from(sorted(DEVICES)) | st.text(max_size=6)
    return st.one_of(
        st.builds(lambda d, c: f"cityhub/v1/{d}/{c}", device, st.sampled_from(CHANNELS)),
        st.builds(lambda d: f"cityhub/v1/gateway/{d}/telemetry", device),
        st.text(max_size=30),
    )
