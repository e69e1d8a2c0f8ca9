"""The database stopped hard, its disk full, a poison message: nothing acknowledged is lost."""

from __future__ import annotations

import pytest

from ingest.chaos.database_faults import database_stopped, disk_full, poison_message
from ingest.chaos.errors import Unsupported
from ingest.chaos.lab import Lab
from tests.chaos.scale import TEST_SCALE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_database_stopped_hard_mid_stream_loses_and_duplicates_nothing(
    database_lab: Lab,
) -> None:
    outcome = database_stopped(database_lab, TEST_SCALE)
    counts = outcome.counts
    assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0)
    assert counts.stored == counts.published
    assert counts.recovered > 0  # readings held back by the outage, stored after it
    assert outcome.details["outages_seen"] == 1.0


def test_a_full_disk_holds_acknowledgements_until_space_returns(database_lab: Lab) -> None:
    try:
        outcome = disk_full(database_lab, TEST_SCALE)
    except Unsupported as exc:
        pytest.skip(str(exc))
    counts = outcome.counts
    assert outcome.details["disk_full_seen"] == 1.0  # PostgreSQL did refuse the writes
    assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0)
    assert counts.stored == counts.published
    assert counts.recovered > 0
    assert counts.dead_letters == 0  # a full disk is an outage, not a reason to reject


def test_a_poison_message_becomes_one_dead_letter_and_the_stream_goes_on(lab: Lab) -> None:
    outcome = poison_message(lab, TEST_SCALE)
    counts = outcome.counts
    assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0)
    assert counts.stored == counts.published  # the readings after the poison too
    assert outcome.details["store_failed"] == 1.0
    assert outcome.details["other_dead_letters"] == 0.0
    # Each message was received once: the poison was not delivered again and again.
    assert outcome.details["received"] == outcome.details["sent"]
    assert outcome.details["ingest_alive"] == 1.0
