"""Properties of the topic parser (ingest/topics.py): any text is a topic of the contract
or not, never an exception; what it accepts is exactly what ingest subscribes to; and a
device id the registry accepts round-trips through every topic of that device."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import InvalidInput
from hub.registry import validate_device_id
from ingest.topics import CHANNELS, Topic, errors_topic, parse_topic, subscriptions

LEVEL = st.sampled_from(["cityhub", "v1", "v2", "gateway", "", "+", "#", *CHANNELS, "errors"]) \
    | st.text(max_size=6)
TOPICS = st.lists(LEVEL, min_size=1, max_size=6).map("/".join) | st.text(max_size=40)
IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True) | st.text(max_size=20)


def matches(topic_filter: str, topic: str) -> bool:
    """MQTT's matching of a topic filter (``+`` one level, ``#`` the rest)."""
    levels, wanted = topic.split("/"), topic_filter.split("/")
    for i, want in enumerate(wanted):
        if want == "#":
            return True
        if i >= len(levels) or (want != "+" and want != levels[i]):
            return False
    return len(levels) == len(wanted)


@given(topic=TOPICS)
def test_the_parser_accepts_exactly_the_topics_ingest_subscribes_to(topic: str) -> None:
    parsed = parse_topic(topic)
    assert (parsed is not None) == any(matches(f, topic) for f in subscriptions(""))
    if parsed is not None:
        assert parsed.channel in CHANNELS
        assert "/" not in parsed.device_id


@given(device_id=IDS, channel=st.sampled_from(CHANNELS))
def test_a_registered_device_id_round_trips_through_its_topics(device_id: str, channel: str) -> None:
    try:
        validate_device_id(device_id)
    except InvalidInput:
        return
    assert parse_topic(f"cityhub/v1/{device_id}/{channel}") == Topic(device_id, channel)
    assert parse_topic(f"cityhub/v1/gateway/{device_id}/telemetry") == Topic(
        device_id, "telemetry", gateway=True)
    # The hub's replies are never read back as a device's message.
    assert parse_topic(errors_topic(device_id)) is None


@given(device_id=IDS)
def test_an_id_that_could_be_read_as_another_topic_is_refused(device_id: str) -> None:
    parsed = parse_topic(f"cityhub/v1/{device_id}/telemetry")
    if parsed is None or parsed != Topic(device_id, "telemetry"):
        with pytest.raises(InvalidInput):
            validate_device_id(device_id)
