"""Properties of the payload decoder and planner (ingest.pipeline.decode + Planner.plan).

Whatever arrives, nothing escapes and nothing is logged as our failure; each message is
stored or becomes a dead letter whose code docs/ingest.md explains; and what a valid
payload says is what its rows hold (issue 13, point 2)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.messages import DEAD_LETTER_CODES
from ingest.pipeline import decode
from tests.fuzz import mutate, valid
from tests.fuzz.strategies import any_bytes, documents, encoded, mutated, topics
from tests.fuzz.world import (
    DEVICES,
    DOCUMENTED,
    PLANNER,
    WINDOW,
    check_outcome,
    message,
    no_errors_logged,
    plan_one,
)

SENSORS = ("aq-1", "meter-1", "cam-1")
CHANNEL_TOPICS = st.sampled_from(sorted(DEVICES)).flatmap(
    lambda d: st.sampled_from([f"cityhub/v1/{d}/telemetry", f"cityhub/v1/{d}/events",
                               f"cityhub/v1/{d}/status", f"cityhub/v1/gateway/{d}/telemetry"]))


def valid_payloads() -> st.SearchStrategy[tuple[str, object, valid.Expected]]:
    """(topic, payload, expected) of every valid form, for every sensor kind."""
    return st.one_of(
        st.sampled_from(SENSORS).flatmap(lambda d: valid.native(d).map(
            lambda p: (f"cityhub/v1/{d}/telemetry", *p))),
        st.sampled_from(("meter-1", "cam-1")).flatmap(lambda d: valid.events(d).map(
            lambda p: (f"cityhub/v1/{d}/events", *p))),
        valid.fiware("aq-1").map(lambda p: ("cityhub/v1/aq-1/telemetry", *p)),
        valid.gateway("gw-1").map(lambda p: ("cityhub/v1/gateway/gw-1/telemetry", *p)),
    )


def test_every_code_a_dead_letter_may_carry_is_documented() -> None:
    assert set(DEAD_LETTER_CODES) == DOCUMENTED


@given(topic=topics(), payload=any_bytes())
def test_any_bytes_on_any_topic_are_stored_or_a_documented_dead_letter(topic: str, payload: bytes) -> None:
    check_outcome(*plan_one(topic, payload))


@given(topic=CHANNEL_TOPICS, payload=encoded(documents()))
def test_any_json_document_is_stored_or_a_documented_dead_letter(topic: str, payload: bytes) -> None:
    check_outcome(*plan_one(topic, payload))


@given(case=valid_payloads(), data=st.data())
def test_a_valid_payload_mutated_in_its_structure_never_breaks_the_planner(
    case: tuple[str, object, valid.Expected], data: st.DataObject
) -> None:
    topic, payload, _ = case
    check_outcome(*plan_one(topic, data.draw(mutate.structure(payload))))


@given(case=valid_payloads(), data=st.data())
def test_a_valid_payload_mutated_in_its_bytes_never_breaks_the_planner(
    case: tuple[str, object, valid.Expected], data: st.DataObject
) -> None:
    topic, payload, _ = case
    check_outcome(*plan_one(topic, data.draw(mutated(encoded(st.just(payload))))))


@given(case=valid_payloads())
def test_a_valid_payload_is_stored_with_the_values_and_times_it_carries(
    case: tuple[str, object, valid.Expected],
) -> None:
    topic, payload, expected = case
    item, plan = plan_one(topic, payload)
    check_outcome(item, plan)
    assert plan.dead_letters == []
    assert plan.accepted == 1
    # Rows leave the plan ordered by device (a stable sort): as sent within a device.
    assert plan.readings == sorted(expected.rows, key=lambda row: row[1])
    assert [(e.ts, e.type, e.confidence, {k: v for k, v in e.attributes.items()
                                                if k in want[3]})
            for e, want in zip(plan.events, expected.events, strict=True)] == expected.events
    stored = repr(plan.readings) + repr(plan.events) + repr(plan.subjects)
    for value in expected.personal:
        assert value not in stored
    if expected.personal:
        assert plan.subjects or any(e.subject for e in plan.events)


@given(cases=st.lists(st.tuples(topics(), any_bytes() | encoded(documents(12))), max_size=8),
       good=valid_payloads())
def test_a_batch_plans_each_message_as_if_it_came_alone(
    cases: list[tuple[str, bytes]], good: tuple[str, object, valid.Expected]
) -> None:
    batch = [message(topic, payload) for topic, payload in [*cases, good[:2]]]
    with no_errors_logged():
        together = PLANNER.plan([decode(m) for m in batch], DEVICES, WINDOW)
        alone = [PLANNER.plan([decode(m)], DEVICES, WINDOW) for m in batch]
    assert together.accepted == sum(p.accepted for p in alone)
    assert together.dead_letters == [d for p in alone for d in p.dead_letters]
    assert sorted(together.readings) == sorted(r for p in alone for r in p.readings)
    assert together.events == [e for p in alone for e in p.events]
