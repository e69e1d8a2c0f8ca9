"""Every reading sent twice with the DUP flag, malformed payloads between them."""

from __future__ import annotations

import pytest

from ingest.chaos.input_faults import duplicates_and_malformed
from ingest.chaos.lab import Lab
from tests.chaos.scale import TEST_SCALE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_duplicates_are_stored_once_and_malformed_payloads_become_dead_letters(lab: Lab) -> None:
    outcome = duplicates_and_malformed(lab, TEST_SCALE)
    counts = outcome.counts
    assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0)
    assert counts.stored == counts.published
    assert counts.dead_letters == outcome.details["malformed"] > 0
    assert outcome.details["received"] == outcome.details["sent"]
