"""What a dead letter keeps never holds a personal value (docs/ingest.md, "Rejections";
ingest/redact.py): the properties behind tests/ingest/test_hostile_units.py's examples.

A plate or household id is planted in a document, under a personal field of any kind
(as a string, in a list or an object, under an escaped key), or, on a device whose kind
has personal fields or is not known, anywhere at all, a key included. Whatever the
document becomes (stored, refused, not JSON any more), the value is in no dead letter,
reason or errors-topic reply, raw or JSON-escaped."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import mutate
from tests.fuzz.strategies import documents, mutated
from tests.fuzz.valid import PERSONAL
from tests.fuzz.world import CATALOGUE, MS, assert_not_kept, check_outcome, plan_one

PERSONAL_KEYS = sorted(CATALOGUE.personal_fields)
# Devices whose dead letters follow the strictest rules: a kind with personal fields, a
# device not registered, a gateway, a topic outside the contract.
STRICT_TOPICS = ["cityhub/v1/cam-1/events", "cityhub/v1/cam-1/telemetry", "cityhub/v1/meter-1/telemetry",
                 "cityhub/v1/meter-1/events", "cityhub/v1/ghost/events", "cityhub/v1/cam-1/status",
                 "cityhub/v1/gateway/gw-1/telemetry", "cityhub/v1/cam-1/video"]
ANY_TOPICS = [*STRICT_TOPICS, "cityhub/v1/aq-1/telemetry", "cityhub/v1/old-1/telemetry"]


def _under_personal_key(secret: str) -> st.SearchStrategy[object]:
    value = st.sampled_from([secret, [secret], {"text": secret}, {secret: 1}, [[1, {"a": secret}]]])
    return st.builds(lambda key, v: {key: v}, st.sampled_from(PERSONAL_KEYS), value)


def _anywhere(secret: str) -> st.SearchStrategy[object]:
    return st.one_of(st.just(secret), _under_personal_key(secret),
                     st.builds(lambda doc: {secret: doc}, documents(4)),
                     st.builds(lambda doc: [doc, secret], documents(4)))


@st.composite
def planted(draw: st.DrawFn, secret: str, strict: bool) -> object:
    """A document (built around a valid-looking reading) with *secret* in it."""
    base = draw(st.sampled_from([
        {"ts": 1795435200000, "type": "fire", "confidence": 0.5},
        {"ts": 1795435200000, "values": {"person_count": 3}},
        {"ts": 1795435200000, "energy_kwh": 1.5},
        {"cam-1": [{"ts": 1795435200000, "person_count": 1}], "ghost": [{"ts": 1}]},
        [{"ts": 1795435200000, "pm10": 3}],
    ]))
    seed = draw(_anywhere(secret) if strict else _under_personal_key(secret))
    document = base | seed if isinstance(base, dict) and isinstance(seed, dict) else [base, seed]
    return draw(st.just(document) | mutate.structure(document)) if strict else document


def _escape_keys(payload: bytes) -> bytes:
    for key in PERSONAL_KEYS:  # the key as the validator reads it, spelt with an escape
        payload = payload.replace(f'"{key}"'.encode(), f'"{key[:-1]}\\u{ord(key[-1]):04x}"'.encode())
    return payload


@given(secret=PERSONAL, topic=st.sampled_from(ANY_TOPICS), data=st.data())
def test_a_personal_value_in_a_parsed_payload_is_in_no_dead_letter(
    secret: str, topic: str, data: st.DataObject
) -> None:
    strict = topic in STRICT_TOPICS
    payload = msgspec.json.encode(data.draw(planted(secret, strict)))
    if data.draw(st.booleans()):
        payload = _escape_keys(payload)
    item, plan = plan_one(topic, payload)
    check_outcome(item, plan)
    assert_not_kept(plan, secret)


@given(secret=PERSONAL, topic=st.sampled_from(STRICT_TOPICS), data=st.data())
def test_a_personal_value_in_a_broken_payload_is_in_no_dead_letter(
    secret: str, topic: str, data: st.DataObject
) -> None:
    document = data.draw(planted(secret, strict=True))
    payload = data.draw(mutated(st.just(msgspec.json.encode(document))))
    item, plan = plan_one(topic, payload)
    check_outcome(item, plan)
    assert_not_kept(plan, secret)


def test_a_plate_used_as_a_gateway_child_id_is_in_no_dead_letter() -> None:
    secret = "12가3456"
    item, plan = plan_one("cityhub/v1/gateway/gw-1/telemetry", {secret: [{"ts": MS, "pm10": 1}]})
    check_outcome(item, plan)
    assert_not_kept(plan, secret)
