"""No payload stops the planner (issue 9, point 2), and what a dead letter keeps of
one never holds a personal value (point 3): the pure parts, fast."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import msgspec
import pytest

from hub.pseudonym import PseudonymKeys
from ingest.depth import MAX_DEPTH, nesting_exceeds
from ingest.errors import StoreError
from ingest.keep_dead import keep_dead_letters
from ingest.messages import DeadLetterRow, Incoming
from ingest.metrics import IngestMetrics
from ingest.pipeline import BatchPlan, Planner, decode
from ingest.retry import Backoff, Retrier
from ingest.validate import TimeWindow, Validator
from tests.ingest.test_units import CATALOGUE, DEVICES, KEYS, MS, WINDOW, message, planner

PLATE = "12가3456"


def nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


def objects(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


# -- the depth limit -------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1, 2, MAX_DEPTH - 1, MAX_DEPTH])
def test_nesting_up_to_the_limit_is_allowed(depth: int) -> None:
    assert not nesting_exceeds(nested(depth))
    assert not nesting_exceeds(objects(depth))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 2000, 100_000])
def test_nesting_beyond_the_limit_is_found(depth: int) -> None:
    assert nesting_exceeds(nested(depth))
    assert nesting_exceeds(objects(depth))


def test_brackets_inside_strings_do_not_count() -> None:
    deep_text = json.dumps({"note": "[{" * 500, "quote": '\\"[[[[' * 50, "ts": 1}).encode()
    assert not nesting_exceeds(deep_text)
    # An escaped backslash before a closing quote ends the string: what follows counts.
    assert nesting_exceeds(b'{"a": "x\\\\", "b": ' + nested(MAX_DEPTH) + b"}")


def test_many_brackets_side_by_side_are_not_depth() -> None:
    wide = json.dumps([{"ts": i, "values": {"pm10": [1]}} for i in range(5000)]).encode()
    assert not nesting_exceeds(wide)
    assert msgspec.json.decode(wide)  # and the decoder agrees it is JSON


def test_unclosed_or_mismatched_brackets_never_reach_the_decoder_deep() -> None:
    # Not JSON either way, but the decoder would recurse once per bracket.
    assert nesting_exceeds(b"[" * 5000)
    assert nesting_exceeds(b'{"a":' * 5000)
    assert nesting_exceeds(b"[" * 40 + b"}" * 40)
    # A few unclosed brackets are left to the decoder, which calls them malformed.
    assert not nesting_exceeds(b"{" * 20 + b"]" * 3)


# -- no payload stops the planner ------------------------------------------------------
HOSTILE: list[tuple[str, bytes, str]] = [
    ("objects 2000 deep", objects(2000), "too_deep"),
    ("arrays 2000 deep", nested(2000), "too_deep"),
    ("5000 arrays never closed", b"[" * 5000, "too_deep"),
    ("deep inside values", b'{"ts": %d, "values": {"pm10": ' % MS + nested(5000) + b"}}",
     "too_deep"),
    ("a huge array", json.dumps([{"ts": MS, "pm10": 1}] * 10_001).encode(), "too_many_readings"),
    ("a huge array of numbers", b"[" + b"1," * 200_000 + b"1]", "too_many_readings"),
    ("invalid UTF-8", b'{"ts": 1, "pm10": 1, "note": "\xff\xfe"}', "malformed_json"),
    ("NaN", b'{"ts": %d, "pm10": NaN}' % MS, "malformed_json"),
    ("Infinity", b'{"ts": %d, "pm10": Infinity}' % MS, "malformed_json"),
    ("a float beyond double", b'{"ts": %d, "pm10": 1e400}' % MS, "bad_value"),
    ("an integer of 400 digits", b'{"ts": %d, "pm10": %s}' % (MS, b"9" * 400), "out_of_range"),
    ("an integer of 5000 digits", b'{"ts": %d, "pm10": %s}' % (MS, b"9" * 5000), "bad_value"),
    ("a ts of 400 digits", b'{"ts": %s, "pm10": 1}' % (b"9" * 400), "bad_timestamp"),
    ("duplicate keys", b'{"ts": %d, "pm10": 1, "pm10": "x"}' % MS, "bad_value"),
    ("a string", b'"hello"', "bad_payload"),
    ("null", b"null", "bad_payload"),
    ("a number", b"42", "bad_payload"),
    ("ts as an object", b'{"ts": {"a": [1]}, "pm10": 1}', "bad_timestamp"),
    ("values as a list", b'{"ts": %d, "values": [1, 2]}' % MS, "bad_payload"),
    ("a metric as an object", b'{"ts": %d, "pm10": {"v": 1}}' % MS, "bad_value"),
    ("an empty key", b'{"ts": %d, "": 1}' % MS, "unknown_metric"),
    ("a FIWARE entity of wrong types",
     b'{"type": "AirQualityObserved", "dateObserved": {"value": {"@value": [1]}}, "pm10": 5}',
     "bad_timestamp"),
]


@pytest.mark.parametrize(("payload", "code"), [(p, c) for _, p, c in HOSTILE],
                         ids=[name for name, _, _ in HOSTILE])
def test_a_hostile_telemetry_payload_is_a_dead_letter_with_its_code(payload: bytes, code: str) -> None:
    plan = planner().plan([decode(message("cityhub/v1/aq-1/telemetry", payload))], DEVICES, WINDOW)
    assert [d.code for d in plan.dead_letters] == [code]
    assert len(plan.errors) == 1
    assert plan.accepted == 0


@pytest.mark.parametrize("payload", [objects(2000), b'{"x": ' + nested(3000) + b"}",
                                     b"\xff" * 10, b'{"cam-1": ' + objects(2000) + b"}"])
def test_hostile_gateway_and_event_payloads_never_raise(payload: bytes) -> None:
    for topic in ("cityhub/v1/cam-1/events", "cityhub/v1/gateway/gw-1/telemetry",
                  "cityhub/v1/cam-1/status", "cityhub/v1/cam-1/bogus"):
        plan = planner().plan([decode(message(topic, payload))], DEVICES, WINDOW)
        assert len(plan.dead_letters) == 1


def test_gateway_keys_that_no_registry_could_hold_are_plain_unknown_devices() -> None:
    payload = {"a\u0000b": [{"ts": MS, "pm10": 1}]}
    decoded = decode(message("cityhub/v1/gateway/gw-1/telemetry", payload))
    plan = planner().plan([decoded], DEVICES, WINDOW)
    assert [d.code for d in plan.dead_letters] == ["unknown_device"]
    assert "\x00" not in plan.dead_letters[0].reason  # PostgreSQL's text refuses NUL


class _Exploding(Validator):
    def events(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise ValueError(f"cannot handle {PLATE}")


def test_an_error_of_ours_on_one_message_is_an_internal_error_and_the_rest_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exploding = Planner(_Exploding(CATALOGUE, KEYS), CATALOGUE.personal_fields, KEYS)
    batch = [
        decode(message("cityhub/v1/cam-1/events",
                       {"ts": MS, "type": "fire", "licence_plate": PLATE}, 1)),
        decode(message("cityhub/v1/aq-1/telemetry", {"ts": MS, "pm10": 3}, 2)),
    ]
    with caplog.at_level(logging.DEBUG):
        plan = exploding.plan(batch, DEVICES, WINDOW)
    assert [d.code for d in plan.dead_letters] == ["internal_error"]
    assert plan.readings == [(WINDOW.latest - timedelta(minutes=5), "aq-1", "pm10", 3.0)]
    assert "ValueError" in caplog.text
    everything = caplog.text + repr(plan.dead_letters) + repr(plan.errors)
    assert PLATE not in everything
    assert PLATE.encode() not in plan.dead_letters[0].payload
    assert KEYS.pseudonymise(PLATE).encode() in plan.dead_letters[0].payload


# -- redaction of every shape ----------------------------------------------------------
def reject_on_cam(channel: str, payload: bytes | object) -> BatchPlan:
    return planner().plan([decode(message(f"cityhub/v1/cam-1/{channel}", payload))],
                          DEVICES, WINDOW)


def assert_no_plate(plan: BatchPlan) -> None:
    assert plan.dead_letters
    for row in plan.dead_letters:
        assert PLATE.encode() not in row.payload
        assert PLATE not in row.reason
    for _topic, reply in plan.errors:
        assert PLATE not in reply.decode()


@pytest.mark.parametrize(("channel", "payload", "code"), [
    ("events", b'{"ts": %d, "type": "alien", "licence\\u005fplate": "%s"}'
     % (MS, PLATE.encode()), "unknown_event_type"),
    ("events", {"ts": MS, "type": "fire", "licence_plate": [PLATE]}, "bad_value"),
    ("events", {"ts": MS, "type": "fire", "licence_plate": {"n": PLATE}}, "bad_value"),
    ("events", {"ts": MS, "type": "fire", "subject": PLATE}, "unknown_field"),
    ("events", {"ts": PLATE, "type": "fire"}, "bad_timestamp"),
    ("events", {"ts": MS, "type": PLATE}, "unknown_event_type"),
    ("telemetry", {"ts": MS, "person_count": PLATE}, "bad_value"),
    ("telemetry", {"ts": MS, "values": {"person_count": 1, "plate": PLATE}}, "unknown_metric"),
    ("events", b'{"licence_plate": "%s", oops' % PLATE.encode(), "malformed_json"),
    ("status", PLATE.encode(), "bad_payload"),
    ("events", b'{"licence_plate": "%s", "x": ' % PLATE.encode() + nested(100) + b"}", "too_deep"),
])
def test_no_dead_letter_or_reply_of_a_cctv_camera_holds_the_plate(
    channel: str, payload: bytes | object, code: str
) -> None:
    plan = reject_on_cam(channel, payload)
    assert [d.code for d in plan.dead_letters] == [code]
    assert_no_plate(plan)


def test_what_a_cctv_dead_letter_keeps() -> None:
    plan = reject_on_cam("events", {"ts": MS, "type": "fire", "confidence": 0.5,
                                    "object_class": "car", "licence_plate": [PLATE],
                                    "track_id": 77, "subject": PLATE, "extra": None})
    kept = msgspec.json.decode(plan.dead_letters[0].payload)
    assert kept == {"ts": MS, "type": "fire", "confidence": 0.5, "object_class": "car",
                    "licence_plate": {"redacted": "array"},
                    # A day-keyed field has no pseudonym a dead letter could safely keep.
                    "track_id": {"redacted": "number"},
                    "subject": {"redacted": "string"}, "(key 1)": None}
    # The vendor still learns which key was wrong.
    assert plan.dead_letters[0].reason.startswith("'licence_plate' must be")


def test_a_plate_used_as_a_key_is_renamed_in_the_dead_letter_and_the_reason() -> None:
    plan = reject_on_cam("telemetry", {"ts": MS, PLATE: 1, "pm10": 2})
    kept = msgspec.json.decode(plan.dead_letters[0].payload)
    # A name some kind declares stays (the vendor sees what was wrong); others do not.
    assert kept == {"ts": MS, "(key 1)": {"redacted": "number"}, "pm10": {"redacted": "number"}}
    assert plan.dead_letters[0].reason.startswith("'…' is not a cctv metric")
    assert_no_plate(plan)


def test_an_unparsable_payload_of_a_kind_with_personal_fields_keeps_only_length_and_fingerprint() -> None:
    payload = b'{"licence_plate": "%s", oops' % PLATE.encode()
    (row,) = reject_on_cam("events", payload).dead_letters
    assert row.payload == b""
    assert f"payload of {len(payload)} bytes withheld" in row.reason
    assert "fingerprint pn1_" in row.reason
    # The same payload always has the same fingerprint; another one another.
    (again,) = reject_on_cam("events", payload).dead_letters
    (other,) = reject_on_cam("events", payload + b" ").dead_letters
    assert again.reason == row.reason != other.reason


def test_a_kind_without_personal_fields_keeps_its_unparsable_payload_cut_to_4_kib() -> None:
    short = planner().plan([decode(message("cityhub/v1/aq-1/telemetry", b"{oops"))], DEVICES,
                           WINDOW)
    assert short.dead_letters[0].payload == b"{oops"
    long = b"{" + b"x" * 10_000
    cut = planner().plan([decode(message("cityhub/v1/aq-1/telemetry", long))], DEVICES, WINDOW)
    assert cut.dead_letters[0].payload == long[:4096]
    assert "10001 bytes cut to its first 4096 bytes" in cut.dead_letters[0].reason


def test_a_personal_field_of_any_kind_is_pseudonymised_on_any_device() -> None:
    plan = planner().plan([decode(message("cityhub/v1/aq-1/telemetry",
                                          {"ts": MS, "pm10": -1, "licence_plate": PLATE}))],
                          DEVICES, WINDOW)
    assert [d.code for d in plan.dead_letters] == ["out_of_range"]
    assert_no_plate(plan)


def test_unknown_devices_and_bad_topics_get_the_strictest_rules() -> None:
    payload = {"ts": MS, "type": "fire", "note": PLATE, "licence_plate": PLATE}
    for topic in ("cityhub/v1/nobody/events", "cityhub/v1/cam-1/video",
                  "cityhub/v1/gateway/gw-1/telemetry"):
        plan = planner().plan([decode(message(topic, payload))], DEVICES, WINDOW)
        assert_no_plate(plan)


def test_a_gateway_dead_letter_is_redacted_by_each_childs_kind() -> None:
    devices = {**DEVICES, "cam-behind": DEVICES["cam-1"].__class__("cctv", True, "gw-1")}
    payload = {"aq-behind": [{"ts": MS, "pm10": 1, "note": "kept"}],
               "cam-behind": [{"ts": MS, "person_count": 1, "note": PLATE}]}
    plan = planner().plan([decode(message("cityhub/v1/gateway/gw-1/telemetry", payload))],
                          devices, WINDOW)
    assert [d.code for d in plan.dead_letters] == ["unknown_metric"]
    kept = msgspec.json.decode(plan.dead_letters[0].payload)
    assert kept["aq-behind"][0]["note"] == "kept"
    assert kept["cam-behind"][0]["(key 1)"] == {"redacted": "string"}


def test_a_plate_where_a_gateway_names_its_child_is_renamed() -> None:
    devices = {**DEVICES, "cam-behind": DEVICES["cam-1"].__class__("cctv", True, "gw-1")}
    payload = {PLATE: [{"ts": MS, "pm10": 1}], "cam-behind": [{"ts": MS, "person_count": 2}]}
    plan = planner().plan([decode(message("cityhub/v1/gateway/gw-1/telemetry", payload))],
                          devices, WINDOW)
    assert [d.code for d in plan.dead_letters] == ["unknown_device"]
    assert_no_plate(plan)
    kept = msgspec.json.decode(plan.dead_letters[0].payload)
    # A registered child keeps its name; one the registry does not know is numbered.
    assert set(kept) == {"(device 1)", "cam-behind"}


def test_a_store_failed_dead_letter_is_redacted_too() -> None:
    item = decode(message("cityhub/v1/cam-1/events",
                          {"ts": MS, "type": "fire", "licence_plate": PLATE,
                           "object_class": "car\u0000"}))
    row = planner().dead_letter(item, DEVICES, "store_failed", f"refused: {PLATE}")
    assert PLATE.encode() not in row.payload
    assert PLATE not in row.reason
    assert row.code == "store_failed"


# -- a dead letter the database refuses --------------------------------------------------
class _Refusing:
    """Refuses a dead letter whose payload is not empty (once, or for ever)."""

    def __init__(self, refuse_minimal: bool) -> None:
        self.refuse_minimal = refuse_minimal
        self.written: list[DeadLetterRow] = []

    def write(self, rows: list[DeadLetterRow]) -> None:
        if any(r.payload for r in rows) or self.refuse_minimal:
            raise StoreError("the dead letter was refused: test")
        self.written.extend(rows)


@pytest.mark.parametrize("refuse_minimal", [False, True])
def test_a_refused_dead_letter_becomes_a_minimal_one_or_is_counted_lost(
    refuse_minimal: bool, caplog: pytest.LogCaptureFixture
) -> None:
    item = decode(message("cityhub/v1/cam-1/events",
                          {"ts": MS, "type": "fire", "licence_plate": PLATE}))
    letters = [(planner().dead_letter(item, DEVICES, "store_failed", "refused"),
                planner().minimal_dead_letter(item, "store_failed"))]
    store, metrics = _Refusing(refuse_minimal), IngestMetrics(backlog=lambda: 0.0)
    retrier = Retrier(metrics, threading.Event(), Backoff(0.01, 0.02))
    with caplog.at_level(logging.INFO):
        assert keep_dead_letters(letters, store.write, retrier, metrics)
    lost = metrics.registry.get_sample_value("cityhub_ingest_dead_letters_lost_total",
                                             {"reason": "store_failed"})
    if refuse_minimal:
        assert store.written == []
        assert lost == 1.0
        assert "lost" in caplog.text
    else:
        assert [(r.code, r.payload) for r in store.written] == [("store_failed", b"")]
        assert "withheld" in store.written[0].reason
        assert not lost
    assert PLATE not in caplog.text


def test_the_planner_never_needs_more_than_the_catalogue() -> None:
    # Another key version: a rotated key must not break redaction.
    keys = PseudonymKeys(2, {1: b"k" * 32, 2: b"m" * 32})
    other = Planner(Validator(CATALOGUE, keys), CATALOGUE.personal_fields, keys)
    window = TimeWindow.around(WINDOW.latest - timedelta(minutes=5), timedelta(days=1))
    plan = other.plan([decode(Incoming("cityhub/v1/cam-1/events", b"{bad", 1, 1, 0.0))],
                      DEVICES, window)
    assert "fingerprint pn2_" in plan.dead_letters[0].reason
