"""The NOTIFY payloads (hub/notify.py): what senders write is what listeners read. Pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.notify import (
    PAYLOAD_BUDGET,
    AlertNote,
    BadNotice,
    RangeNote,
    StatusNote,
    decode_alert,
    decode_range,
    decode_status,
    encode_alert,
    encode_range,
    encode_status,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_range_round_trips_with_its_devices_sorted() -> None:
    payload = encode_range(T0, T0 + timedelta(seconds=5), ["b", "a", "b"])
    # The wire format listeners in other processes (and versions) read.
    assert json.loads(payload) == {"from": "2026-11-23T12:00:00+00:00",
                                   "to": "2026-11-23T12:00:05+00:00", "devices": ["a", "b"]}
    assert decode_range(payload) == RangeNote(T0, T0 + timedelta(seconds=5), frozenset({"a", "b"}))


def test_a_range_past_the_budget_means_any_device() -> None:
    payload = encode_range(T0, T0, (f"device-{i:06d}" for i in range(2000)))
    assert len(payload) <= PAYLOAD_BUDGET
    assert decode_range(payload) == RangeNote(T0, T0, None)


def test_a_range_without_a_device_list_means_any_device() -> None:
    assert decode_range('{"from": "2026-11-23T12:00:00+00:00", "to": "2026-11-23T12:00:00Z"}'
                        ).devices is None


@pytest.mark.parametrize("payload", [
    "not json",
    "[]",
    '{"from": "2026-11-23T12:00:00+00:00"}',
    '{"from": "2026-11-23T12:00:00", "to": "2026-11-23T12:00:01"}',  # no offset
    '{"from": "2026-11-23T12:00:05+00:00", "to": "2026-11-23T12:00:00+00:00"}',  # backwards
    '{"from": "2026-11-23T12:00:00+00:00", "to": "2026-11-23T12:00:00+00:00", "devices": [1]}',
    '{"from": "yesterday", "to": "2026-11-23T12:00:00+00:00"}',
])
def test_a_malformed_range_is_refused(payload: str) -> None:
    with pytest.raises(BadNotice):
        decode_range(payload)


def test_device_status_round_trips() -> None:
    payload = encode_status(StatusNote("aq-1", False))
    assert json.loads(payload) == {"device_id": "aq-1", "online": False}
    assert decode_status(payload) == StatusNote("aq-1", False)
    with pytest.raises(BadNotice):
        decode_status('{"device_id": "aq-1", "online": "yes"}')


def test_an_alert_change_round_trips() -> None:
    note = AlertNote(7, 42, "acknowledged", "critical")
    payload = encode_alert(note)
    assert json.loads(payload) == {"alert_id": 7, "seq": 42, "state": "acknowledged",
                                   "severity": "critical"}
    assert decode_alert(payload) == note
    with pytest.raises(BadNotice):
        decode_alert('{"alert_id": "seven", "seq": 42, "state": "open", "severity": "low"}')
