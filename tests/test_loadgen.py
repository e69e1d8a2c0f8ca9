"""The load generator's packet (devices/mqttwire.py) and payload encoding (pure; nothing running)."""

from __future__ import annotations

import json

import pytest

from devices.loadgen import LoadPlan, Report, gateway_payload, gateway_prefixes, reading_payload
from devices.mqttwire import (
    connect_packet,
    decode_remaining_length,
    encode_remaining_length,
    encode_string,
    parse_packets,
    publish_packet,
)


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_round_trips(length: int, encoded: bytes) -> None:
    # The boundary values of the table in [MQTT-2.2.3].
    assert encode_remaining_length(length) == encoded
    assert decode_remaining_length(b"\x30" + encoded, 1) == (length, len(encoded))


def test_remaining_length_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="remaining length"):
        encode_remaining_length(268_435_456)
    with pytest.raises(ValueError, match="remaining length"):
        encode_remaining_length(-1)


def test_incomplete_remaining_length_is_none() -> None:
    assert decode_remaining_length(b"\x30\x80", 1) is None


def test_string_has_a_two_byte_length() -> None:
    assert encode_string("a/b") == b"\x00\x03a/b"
    assert encode_string("미세먼지") == b"\x00\x0c" + "미세먼지".encode()


def test_connect_packet_for_mqtt_311() -> None:
    assert connect_packet("lg") == (
        b"\x10\x0e"  # CONNECT, 14 bytes follow
        b"\x00\x04MQTT\x04"  # protocol name and level 4 (3.1.1)
        b"\x02"  # clean session
        b"\x00\x00"  # keep-alive off
        b"\x00\x02lg"
    )


def test_publish_packet_qos1() -> None:
    packet = publish_packet(encode_string("a/b"), 258, b'{"x":1}')
    assert packet == b"\x32\x0e\x00\x03a/b\x01\x02" + b'{"x":1}'


def test_retained_publish_sets_the_retain_bit() -> None:
    packet = publish_packet(encode_string("a/b"), 258, b"online", retain=True)
    assert packet == b"\x33\x0d\x00\x03a/b\x01\x02online"


def test_connect_packet_with_credentials_and_a_will() -> None:
    packet = connect_packet("d", keepalive=60, username="u", password="p", will_topic="s")
    assert packet[9] == 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80  # flags [MQTT-3.1.2.3]
    assert packet[10:12] == b"\x00\x3c"
    assert packet[12:] == b"\x00\x01d" + b"\x00\x01s" + b"\x00\x07offline" + b"\x00\x01u\x00\x01p"


def test_publish_packet_with_a_long_payload_uses_two_length_bytes() -> None:
    packet = publish_packet(encode_string("t"), 1, b"x" * 200)
    assert packet[:3] == b"\x32\xcd\x01"  # 3 + 2 + 200 = 205
    assert len(packet) == 3 + 205


def test_packet_id_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="packet identifier"):
        publish_packet(encode_string("t"), 0, b"")


def test_parse_packets_keeps_a_partial_packet() -> None:
    data = b"\x40\x02\x00\x01" + b"\x40\x02\x00\x02" + b"\x40\x02\x00"
    packets, used = parse_packets(data)
    assert packets == [(0x40, b"\x00\x01"), (0x40, b"\x00\x02")]
    assert used == 8


def test_reading_payload_is_the_device_contract() -> None:
    assert json.loads(reading_payload(1_700_000_000_000, b"42")) == {
        "ts": 1_700_000_000_000, "pm10": 42,
    }


def test_several_readings_are_one_millisecond_apart() -> None:
    readings = json.loads(reading_payload(1000, b"7", count=3))
    assert readings == [{"ts": 1000, "pm10": 7}, {"ts": 1001, "pm10": 7}, {"ts": 1002, "pm10": 7}]


def test_gateway_payload_maps_devices_to_readings() -> None:
    payload = gateway_payload(gateway_prefixes(["aq-1", "aq-2"]), 5000, [b"1", b"2000"])
    assert json.loads(payload) == {
        "aq-1": [{"ts": 5000, "pm10": 1}],
        "aq-2": [{"ts": 5000, "pm10": 2000}],
    }


def test_plan_and_report_survive_json() -> None:
    plan = LoadPlan("127.0.0.1", 1884, "lg", 100.0, 2.0, 500, 1, (),
                    (("gw-1", ("aq-1", "aq-2")),))
    assert LoadPlan.from_json(plan.to_json()) == plan
    assert plan.total == 200
    report = Report(10, 9, 1.5, 2.5, 0.1, done=True)
    assert Report.from_json(report.to_json()) == report
