"""The live view's pure parts: queues, coalescing, resume, routing, protocol, handshake."""

from __future__ import annotations

import pytest

from ops_console.live import handshake, messages
from ops_console.live.fanout import CLOSE_TOO_SLOW, FanOut
from ops_console.live.protocol import Ping, ProtocolError, Subscribe, Unsubscribe, parse_request
from ops_console.live.queue import ClientQueue


def alert(seq: int, state: str = "open") -> messages.Message:
    return messages.alert_change(seq * 10, seq, state, "critical")


def reading(device: str, metric: str, ts: str, value: float) -> messages.Message:
    return messages.readings(device, "jung-gu", [{"ts": ts, "metric": metric, "value": value}])


def seqs(items: list[messages.Message]) -> list[int | None]:
    return [m.seq for m in items]


def test_queue_keeps_alert_changes_in_order() -> None:
    queue = ClientQueue(limit=10)
    for seq in (1, 2, 3):
        assert queue.put(alert(seq))
    assert seqs(queue.take()) == [1, 2, 3]
    assert len(queue) == 0


def test_status_of_one_device_is_coalesced_to_the_latest() -> None:
    queue = ClientQueue(limit=10)
    for online in (True, False, True, False):
        queue.put(messages.device_status("d1", online, "jung-gu"))
    queue.put(messages.device_status("d2", True, "jung-gu"))
    taken = queue.take()
    assert [(m.body["device_id"], m.body["online"]) for m in taken] == [("d1", False), ("d2", True)]
    assert queue.coalesced == 3


def test_coalesced_readings_keep_the_latest_value_of_every_metric() -> None:
    queue = ClientQueue(limit=10)
    queue.put(reading("d1", "pm10", "2026-01-01T00:00:00+00:00", 20))
    queue.put(reading("d1", "pm25", "2026-01-01T00:00:00+00:00", 9))
    queue.put(reading("d1", "pm10", "2026-01-01T00:01:00+00:00", 180))
    (only,) = queue.take()
    assert only.body["readings"] == [
        {"ts": "2026-01-01T00:01:00+00:00", "metric": "pm10", "value": 180},
        {"ts": "2026-01-01T00:00:00+00:00", "metric": "pm25", "value": 9},
    ]
    assert '"metric":"pm10","value":180' in only.text


def test_queue_reports_overflow_past_its_limit_and_stays_overflowed() -> None:
    queue = ClientQueue(limit=3)
    assert all(queue.put(alert(s)) for s in (1, 2, 3))
    assert not queue.put(alert(4))
    assert queue.overflowed
    assert not queue.put(messages.device_status("d1", True, None))


def test_coalescing_means_many_updates_of_few_devices_never_overflow() -> None:
    queue = ClientQueue(limit=5)
    for i in range(1000):
        assert queue.put(messages.device_status(f"d{i % 5}", i % 2 == 0, None))
    assert len(queue) == 5


def test_take_returns_at_most_the_asked_number() -> None:
    queue = ClientQueue(limit=10)
    for seq in range(1, 6):
        queue.put(alert(seq))
    assert seqs(queue.take(2)) == [1, 2]
    assert seqs(queue.take()) == [3, 4, 5]


def test_resume_sends_backlog_then_held_live_changes_without_duplicates() -> None:
    queue = ClientQueue(limit=100)
    queue.begin_resume()
    # Live changes arrive while the backlog is read; 5 is both committed before the
    # read (so in the backlog) and notified after the subscription.
    queue.put(alert(5))
    queue.put(alert(6))
    queue.put(messages.device_status("d1", True, None))  # not an alert: not held
    assert queue.resuming
    assert queue.finish_resume([alert(3), alert(4), alert(5)])
    taken = queue.take()
    assert seqs(taken) == [None, 3, 4, 5, 6]
    assert not queue.resuming


def test_resume_counts_held_changes_against_the_limit() -> None:
    queue = ClientQueue(limit=3)
    queue.begin_resume()
    for seq in (10, 11):
        assert queue.put(alert(seq))
    assert not queue.finish_resume([alert(7), alert(8)])


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ClientQueue(0)


def test_fanout_delivers_only_to_subscribers_of_a_route() -> None:
    fanout = FanOut(queue_limit=10)
    alerts, zone, device, other = (fanout.add(n) for n in ("a", "z", "d", "o"))
    alerts.channels = frozenset({"alerts"})
    zone.channels = frozenset({"readings:zone:jung-gu"})
    device.channels = frozenset({"readings:device:d1"})
    other.channels = frozenset({"readings:zone:mapo-gu"})
    assert fanout.publish(alert(1)) == 1
    assert fanout.publish(reading("d1", "pm10", "2026-01-01T00:00:00+00:00", 1)) == 2
    assert [len(c.queue) for c in (alerts, zone, device, other)] == [1, 1, 1, 0]
    assert (alerts.wake.is_set(), other.wake.is_set()) == (True, False)
    assert fanout.wanted_routes() == {"alerts", "readings:zone:jung-gu", "readings:device:d1",
                                      "readings:zone:mapo-gu"}


def test_a_slow_client_is_marked_for_closing_and_the_others_still_get_everything() -> None:
    fanout = FanOut(queue_limit=5)
    slow, fast = fanout.add("slow"), fanout.add("fast")
    slow.channels = fast.channels = frozenset({"alerts"})
    received: list[messages.Message] = []
    for seq in range(1, 21):
        fanout.publish(alert(seq))
        received.extend(fast.queue.take())  # the fast client's sender keeps up
    assert seqs(received) == list(range(1, 21))
    assert slow.close_code == CLOSE_TOO_SLOW
    assert "since_seq" in slow.close_reason
    fanout.remove(slow)
    assert fanout.disconnected_slow == 1
    assert fanout.publish(alert(21)) == 1


@pytest.mark.parametrize(("text", "expected"), [
    ('{"op": "ping"}', Ping()),
    ('{"op": "subscribe", "channels": ["alerts", "kpis"], "since_seq": 4}',
     Subscribe(frozenset({"alerts", "kpis"}), 4)),
    ('{"op": "subscribe", "channels": ["readings:zone:jung-gu", "readings:device:aq-jung-001"]}',
     Subscribe(frozenset({"readings:zone:jung-gu", "readings:device:aq-jung-001"}))),
    ('{"op": "unsubscribe", "channels": ["devices"]}', Unsubscribe(frozenset({"devices"}))),
])
def test_requests_are_parsed(text: str, expected: object) -> None:
    assert parse_request(text) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("not json", "not JSON"),
    ("[1]", "expected a JSON object"),
    ('{"op": "listen"}', "unknown op 'listen'"),
    ('{"op": "subscribe"}', "non-empty list"),
    ('{"op": "subscribe", "channels": ["weather"]}', "unknown channel 'weather'"),
    ('{"op": "subscribe", "channels": ["readings:zone:a b"]}', "unknown channel"),
    ('{"op": "subscribe", "channels": ["alerts"], "since_seq": -1}', "since_seq"),
    ('{"op": "subscribe", "channels": ["alerts"], "since_seq": true}', "since_seq"),
])
def test_bad_requests_get_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_request(text)


def test_token_from_subprotocol_header_or_query() -> None:
    creds = handshake.credentials({}, {}, ["cityhub.v1", "bearer.abc.def"])
    assert (creds.token, creds.subprotocol) == ("abc.def", "cityhub.v1")
    assert handshake.credentials({"authorization": "Bearer xyz"}, {}, []).token == "xyz"
    assert handshake.credentials({}, {"token": "q"}, []).token == "q"
    assert handshake.credentials({}, {}, []).token is None


@pytest.mark.parametrize(("origin", "allowed"), [
    (None, True),
    ("http://console.example:8080", True),     # the console's own origin
    ("https://ops.city.example", True),        # in the allow-list
    ("http://evil.example", False),
    ("http://console.example:9999", False),
    ("null", False),
])
def test_origin_rules(origin: str | None, allowed: bool) -> None:
    assert handshake.origin_allowed(origin, "console.example:8080", ["https://ops.city.example"]) is allowed
