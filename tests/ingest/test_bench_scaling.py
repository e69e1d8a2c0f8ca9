"""`cityhub bench ingest --workers 1,2`: the workers table and the model for more cores."""

from __future__ import annotations

import pytest

from hub.bench.histogram import Histogram
from hub.errors import InvalidInput
from ingest.bench.config import BenchConfig, parse_workers
from ingest.bench.database import RowCount
from ingest.bench.scaling import Costs, markdown, project
from ingest.bench.trial import Trial
from ingest.metrics import LAG_BUCKETS


def trial(rate: float, cpu_us: dict[str, float], seconds: float = 10.0,
          publish_seconds: float = 5.0) -> Trial:
    """*rate* messages/s stored over *seconds*, all published in the first *publish_seconds*
    (less than *seconds*: a backlog formed)."""
    stored = int(rate * seconds)
    return Trial(
        consumer="ingest", published=stored, unacked=0, received=stored, stored=stored,
        rejected=0, readings_per_message=1, rows=RowCount(stored, stored), first_publish=0.0,
        last_publish=publish_seconds, last_commit=seconds, lag=Histogram.empty(LAG_BUCKETS),
        cpu={role: stored * us * 1e-6 for role, us in cpu_us.items()},
    )


COSTS = {"consumer": 20.0, "database": 10.0, "broker": 15.0, "publisher": 5.0}


def test_costs_are_read_per_stored_message() -> None:
    costs = Costs.of(trial(30_000, COSTS))
    assert costs is not None
    assert costs.hub == pytest.approx(45.0)
    assert Costs.of(trial(30_000, {"consumer": 20.0})) is None  # a process could not be read


def test_cores_are_shared_in_proportion_to_what_each_part_costs() -> None:
    p = project(Costs(ingest=20, database=10, broker=15, publisher=5), 9)
    assert p.rate == pytest.approx(200_000)  # 9 cores × 10⁶ µs / 45 µs
    assert (p.ingest_cores, p.database_cores, p.broker_cores) == pytest.approx((4, 2, 3))
    assert p.workers == 4  # one core each
    # One Mosquitto thread passes 10⁶ / 15 µs = 66,667 msg/s: it saturates first.
    assert p.mosquitto_rate == pytest.approx(66_667, rel=1e-4)
    assert p.saturates.startswith("one Mosquitto")


def test_on_few_cores_the_largest_share_saturates_first() -> None:
    p = project(Costs(ingest=20, database=10, broker=15, publisher=5), 1)
    assert p.mosquitto_rate == p.rate
    assert p.saturates == "all cores; largest share: ingest CPU per message"
    assert project(Costs(ingest=5, database=30, broker=1, publisher=1), 4).saturates.endswith(
        "PostgreSQL CPU per row")


def test_the_document_shows_each_count_and_the_model_checked_on_this_machine() -> None:
    text = markdown([(1, trial(30_000, COSTS)), (2, trial(33_000, COSTS))], 2, load_before=3.2)
    assert "| stored msg/s | 30,000 | 33,000 |" in text
    assert "| vs the first count | 1.00× | 1.10× |" in text
    # 2 cores × 10⁶ / (45 + 5) µs = 40,000 predicted, against the best measured.
    assert "40,000 msg/s predicted, 33,000 measured" in text
    assert "| capacity measured (a backlog formed) | yes | yes |" in text
    assert "| 4 | 88,889 | 66,667 | 2 |" in text
    assert "load average was 3.2" in text


def test_worker_counts_are_parsed_and_checked() -> None:
    assert parse_workers("1, 2,4,2") == (1, 2, 4)
    with pytest.raises(InvalidInput, match="'two' is not a number"):
        parse_workers("1,two")
    with pytest.raises(InvalidInput, match="between 1 and 64"):
        BenchConfig(10, 100, 1, 10, workers=(0, 2)).check()
    assert BenchConfig(10, 100, 1, 10, workers=(1, 2)).title.endswith(", 1 and 2 ingest workers")


def test_a_trial_that_kept_up_is_not_taken_for_capacity() -> None:
    kept_up = trial(4_000, COSTS, seconds=10.0, publish_seconds=10.0)
    text = markdown([(1, trial(6_000, COSTS)), (2, kept_up)], 2)
    assert "| capacity measured (a backlog formed) | yes | no: it kept up |" in text
    assert "predicted, 6,000 measured" in text
    assert "not measured" in markdown([(2, kept_up)], 2)
