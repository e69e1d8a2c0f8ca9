"""Pure logic of ingest/: topics, validation, batch planning, redaction, the inbox."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from hub.catalogue import load_catalogue
from hub.pseudonym import PseudonymKeys
from ingest.inbox import Inbox
from ingest.messages import Incoming, Rejection
from ingest.pipeline import Planner, decode
from ingest.redact import Redactor
from ingest.topics import parse_topic, subscriptions
from ingest.validate import DeviceInfo, TimeWindow, Validator

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow.around(NOW, timedelta(days=90))
KEYS = PseudonymKeys(1, {1: b"k" * 32})
CATALOGUE = load_catalogue()
DEVICES = {
    "aq-1": DeviceInfo("air_quality", True, None),
    "meter-1": DeviceInfo("smart_meter", True, None),
    "cam-1": DeviceInfo("cctv", True, None),
    "old-1": DeviceInfo("air_quality", False, None),
    "gw-1": DeviceInfo("gateway", True, None),
    "aq-behind": DeviceInfo("air_quality", True, "gw-1"),
}
MS = int(NOW.timestamp() * 1000)


def planner() -> Planner:
    return Planner(Validator(CATALOGUE, KEYS), CATALOGUE.personal_fields, KEYS)


def message(topic: str, payload: object, mid: int = 1) -> Incoming:
    body = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    return Incoming(topic, body, mid, 1, NOW.timestamp())


def plan_one(topic: str, payload: object):  # type: ignore[no-untyped-def]
    return planner().plan([decode(message(topic, payload))], DEVICES, WINDOW)


def test_topics_of_the_contract_parse_and_others_do_not() -> None:
    assert parse_topic("cityhub/v1/aq-1/telemetry") is not None
    gateway = parse_topic("cityhub/v1/gateway/gw-1/telemetry")
    assert gateway is not None
    assert gateway.gateway
    assert parse_topic("cityhub/v2/aq-1/telemetry") is None
    assert parse_topic("cityhub/v1/aq-1/errors") is None
    assert subscriptions("g")[0] == "$share/g/cityhub/v1/+/telemetry"
    assert subscriptions("")[0] == "cityhub/v1/+/telemetry"


def test_a_reading_becomes_one_row_per_metric() -> None:
    plan = plan_one("cityhub/v1/aq-1/telemetry", {"ts": MS, "pm10": 40, "humidity": 55.5})
    assert plan.readings == [(NOW, "aq-1", "pm10", 40.0), (NOW, "aq-1", "humidity", 55.5)]
    assert plan.accepted == 1
    assert plan.dead_letters == []


@pytest.mark.parametrize(("payload", "code"), [
    ({"pm10": 1}, "bad_timestamp"),
    ({"ts": MS, "pm10": "high"}, "bad_value"),
    ({"ts": MS, "pm10": True}, "bad_value"),
    ({"ts": MS, "pm10": -1}, "out_of_range"),
    ({"ts": MS, "kwh": 1}, "unknown_metric"),
    ({"ts": MS, "power_kw": 1}, "wrong_kind"),
    ({"ts": MS + 301_000, "pm10": 1}, "future_timestamp"),
    ({"ts": MS - 91 * 86_400_000, "pm10": 1}, "too_old"),
    ({"ts": MS}, "bad_payload"),
    ([], "bad_payload"),
    ([{"ts": MS, "pm10": 1}, 7], "bad_payload"),
    ({"ts": MS, "values": [1]}, "bad_payload"),
    ({"ts": MS, "values": {"pm10": 1}, "pm25": 2}, "bad_payload"),
])
def test_invalid_telemetry_is_rejected_whole_with_a_reason(payload: object, code: str) -> None:
    plan = plan_one("cityhub/v1/aq-1/telemetry", payload)
    assert plan.readings == []
    assert [d.code for d in plan.dead_letters] == [code]
    assert plan.errors[0][0] == "cityhub/v1/aq-1/errors"


def test_a_late_reading_within_retention_is_accepted() -> None:
    plan = plan_one("cityhub/v1/aq-1/telemetry", {"ts": MS - 30 * 86_400_000, "pm10": 1})
    assert plan.accepted == 1


@pytest.mark.parametrize(("device", "code"), [("ghost", "unknown_device"), ("old-1", "revoked_device")])
def test_only_registered_active_devices_may_publish(device: str, code: str) -> None:
    plan = plan_one(f"cityhub/v1/{device}/telemetry", {"ts": MS, "pm10": 1})
    assert [d.code for d in plan.dead_letters] == [code]


def test_malformed_json_is_a_dead_letter_with_the_payload_kept() -> None:
    plan = plan_one("cityhub/v1/aq-1/telemetry", b'{"ts": 1,')
    assert plan.dead_letters[0].code == "malformed_json"
    assert plan.dead_letters[0].payload == b'{"ts": 1,'


def test_the_household_id_becomes_the_meters_pseudonymous_subject() -> None:
    plan = plan_one("cityhub/v1/meter-1/telemetry",
                    {"ts": MS, "energy_kwh": 10, "household_id": "HH-1"})
    assert plan.subjects == {"meter-1": KEYS.pseudonymise("HH-1")}
    assert all("HH-1" not in str(r) for r in plan.readings)


def test_a_cctv_event_keeps_only_a_pseudonym_of_the_plate() -> None:
    plan = plan_one("cityhub/v1/cam-1/events",
                    {"ts": MS, "type": "illegal_parking", "confidence": 0.8,
                     "licence_plate": "12가3456", "object_class": "car"})
    (event,) = plan.events
    assert event.severity == "info"
    assert event.subject == KEYS.pseudonymise("12가3456")
    assert event.attributes == {"licence_plate": event.subject, "object_class": "car"}


@pytest.mark.parametrize(("payload", "code"), [
    ({"ts": MS, "type": "alien"}, "unknown_event_type"),
    ({"ts": MS, "type": "fire", "confidence": 2}, "bad_value"),
    ({"ts": MS, "type": "fire", "face": "x"}, "unknown_field"),
])
def test_invalid_events_are_rejected(payload: object, code: str) -> None:
    plan = plan_one("cityhub/v1/cam-1/events", payload)
    assert [d.code for d in plan.dead_letters] == [code]


def test_a_gateway_may_publish_only_for_devices_behind_it() -> None:
    ok = plan_one("cityhub/v1/gateway/gw-1/telemetry", {"aq-behind": [{"ts": MS, "pm10": 3}]})
    assert ok.readings == [(NOW, "aq-behind", "pm10", 3.0)]
    assert ok.seen == {"gw-1": NOW.timestamp()}
    bad = plan_one("cityhub/v1/gateway/gw-1/telemetry", {"aq-1": [{"ts": MS, "pm10": 3}]})
    assert [d.code for d in bad.dead_letters] == ["not_behind_gateway"]
    not_gw = plan_one("cityhub/v1/gateway/aq-1/telemetry", {"aq-behind": [{"ts": MS, "pm10": 3}]})
    assert [d.code for d in not_gw.dead_letters] == ["wrong_kind"]


def test_status_payloads() -> None:
    assert plan_one("cityhub/v1/cam-1/status", b"offline").online == {"cam-1": False}
    assert [d.code for d in plan_one("cityhub/v1/cam-1/status", b"maybe").dead_letters] == ["bad_payload"]


def test_replies_name_the_problem_but_never_a_personal_value() -> None:
    plan = plan_one("cityhub/v1/cam-1/events",
                    {"ts": MS, "type": "illegal_parking", "confidence": 9, "licence_plate": "99허9999"})
    reply = msgspec.json.decode(plan.errors[0][1])
    assert reply["code"] == "bad_value"
    assert "99허9999" not in plan.errors[0][1].decode()
    assert b"99\xed\x97\x889999" not in plan.dead_letters[0].payload


def test_redaction_handles_nested_and_non_json_payloads() -> None:
    redactor = Redactor(CATALOGUE, CATALOGUE.personal_fields, KEYS)
    raw = b'[{"values": {"household_id": "H1"}, "ts": 1}]'
    nested = redactor.parsed(raw, msgspec.json.decode(raw), redactor.rules("smart_meter")).payload
    assert b"H1" not in nested
    assert KEYS.pseudonymise("H1").encode() in nested
    broken = redactor.unparsed(b'{"licence_plate": "12AB34", oops', strict=True)
    assert broken.payload == b""
    plain = redactor.parsed(b'{"pm10": 1}', {"pm10": 1}, redactor.rules("air_quality"))
    assert plain.payload == b'{"pm10":1}'


def test_the_inbox_hands_over_batches_in_order_and_blocks_when_full() -> None:
    inbox = Inbox(capacity=3)
    for i in range(3):
        inbox.put(message("cityhub/v1/aq-1/telemetry", {}, mid=i))
    blocked = threading.Thread(target=inbox.put, args=(message("t", {}, mid=3),))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()
    assert [m.mid for m in inbox.drain(2, 0.1, 0.0)] == [0, 1]
    blocked.join(5)
    assert not blocked.is_alive()
    assert inbox.full_waits == 1
    assert [m.mid for m in inbox.drain(10, 0.1, 0.0)] == [2, 3]
    assert inbox.drain(10, 0.01, 0.0) == []


def test_rejections_are_values_not_exceptions() -> None:
    validator = Validator(CATALOGUE, KEYS)
    result = validator.telemetry("aq-1", "air_quality", {"ts": MS, "pm10": 5000}, WINDOW)
    assert isinstance(result, Rejection)
    assert "0..2000" in result.reason


def test_a_timestamp_is_judged_by_its_own_type_even_after_an_equal_one_was_seen() -> None:
    validator = Validator(CATALOGUE, KEYS)

    def outcome(ts: object) -> object:
        result = validator.telemetry("aq-1", "air_quality", {"ts": ts, "pm10": 5}, WINDOW)
        return result.code if isinstance(result, Rejection) else result[0][0][0]

    iso = NOW.isoformat()
    assert outcome(MS) == outcome(float(MS)) == outcome(MS) == NOW
    assert outcome(iso) == outcome(iso) == NOW
    # 1 ms after 1970 parses (and is too old); True equals 1 as a dict key but is no time.
    assert outcome(1) == "too_old"
    assert outcome(True) == "bad_timestamp"
    assert outcome(1) == "too_old"


def test_a_batchs_readings_come_out_grouped_by_device_in_arrival_order() -> None:
    batch = [
        decode(message("cityhub/v1/aq-1/telemetry", {"ts": MS + 1, "pm10": 1})),
        decode(message("cityhub/v1/gateway/gw-1/telemetry",
                       {"aq-behind": [{"ts": MS + 2, "pm10": 2}, {"ts": MS + 3, "pm10": 3}]})),
        decode(message("cityhub/v1/aq-1/telemetry", {"ts": MS + 4, "pm10": 4})),
    ]
    plan = planner().plan(batch, DEVICES, WINDOW)
    assert [(r[1], r[3]) for r in plan.readings] == [
        ("aq-1", 1.0), ("aq-1", 4.0), ("aq-behind", 2.0), ("aq-behind", 3.0)]
    assert plan.accepted == 3
