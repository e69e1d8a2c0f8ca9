"""The broker killed, and a consumer too slow for its queue: what is lost is the
broker's guarantee, within the bound its settings give (docs/chaos.md)."""

from __future__ import annotations

import pytest

from ingest.chaos.broker_faults import (
    broker_killed,
    broker_killed_with_backlog,
    deployed_setting,
    slow_consumer,
)
from ingest.chaos.lab import Lab
from tests.chaos.scale import TEST_SCALE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_broker_killed_while_ingest_keeps_up_loses_at_most_what_it_had_not_saved(
    lab: Lab,
) -> None:
    outcome = broker_killed(lab, TEST_SCALE)
    counts = outcome.counts
    assert counts.lost <= outcome.bound
    assert counts.duplicated == 0
    # Once ingest has subscribed again, the stream is whole again.
    assert outcome.details["published_after_resubscribe"] > 0
    assert outcome.details["lost_after_resubscribe"] == 0.0


def test_a_broker_killed_with_a_backlog_loses_exactly_what_came_after_its_last_save(
    lab: Lab,
) -> None:
    outcome = broker_killed_with_backlog(lab, TEST_SCALE)
    counts = outcome.counts
    assert counts.duplicated == 0
    assert counts.lost == outcome.bound == outcome.details["acked_since_save"]
    assert counts.recovered == outcome.details["saved"]  # what it saved, it delivered


def test_a_consumer_past_the_queue_limit_loses_what_the_broker_drops(lab: Lab) -> None:
    outcome = slow_consumer(lab, TEST_SCALE, queue_limit=TEST_SCALE.queue_limit)
    counts = outcome.counts
    # The broker keeps the Receive Maximum in flight and the queue limit queued.
    assert counts.lost == outcome.bound > 0
    assert counts.stored == counts.published - outcome.bound
    assert counts.duplicated == 0
    assert outcome.details["dropped_warnings"] >= 1  # and says so in its log


def test_the_deployed_queue_limit_keeps_a_backlog_whole(lab: Lab) -> None:
    assert deployed_setting("max_queued_messages", 0) >= 100_000
    outcome = slow_consumer(lab, TEST_SCALE, queue_limit=None)
    counts = outcome.counts
    assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0)
    assert counts.stored == counts.published
