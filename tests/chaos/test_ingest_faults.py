"""Ingest killed, terminated, and one of three workers killed: nothing is lost."""

from __future__ import annotations

import pytest

from ingest.chaos.ingest_faults import ingest_killed, ingest_terminated, worker_of_three_killed
from ingest.chaos.lab import Lab
from tests.chaos.scale import TEST_SCALE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_ingest_killed_mid_stream_loses_and_duplicates_nothing(lab: Lab) -> None:
    counts = ingest_killed(lab, TEST_SCALE).counts
    assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0)
    assert counts.stored == counts.published
    assert counts.recovered > 0


def test_sigterm_commits_and_acknowledges_what_ingest_holds_then_exits(lab: Lab) -> None:
    outcome = ingest_terminated(lab, TEST_SCALE)
    details, counts = outcome.details, outcome.counts
    assert details["exit_code"] == 0.0
    assert details["drained"] == details["held"]  # all stored before the restart
    assert details["redelivered"] == 0.0  # and acknowledged: the broker had nothing left
    assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0)
    assert counts.stored == counts.published


def test_one_of_three_workers_killed_loses_nothing_once_it_returns(lab: Lab) -> None:
    outcome = worker_of_three_killed(lab, TEST_SCALE)
    counts = outcome.counts
    assert (counts.lost, counts.duplicated, counts.unexpected) == (0, 0, 0)
    assert counts.stored == counts.published
    # Mosquitto 2.0 went on giving the dead worker its share, which waited in its
    # session until it returned (docs/chaos.md, "A dead worker of a shared subscription").
    assert outcome.details["stranded"] > 0
