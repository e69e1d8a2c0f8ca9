"""Differential privacy without a database: OpenDP's counts, the contribution bound, and
the CCTV methods' release() on small frames."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from analytics.privacy.cctv import EventCountsDP, bound_contributions
from analytics.privacy.cctv_input import hours, uniqueness
from analytics.privacy.cctv_movement import Movement, transitions
from analytics.privacy.dp import laplace_counts
from analytics.privacy.errors import BadReleaseParams

DAY = datetime(2026, 3, 2, tzinfo=UTC)
ZONES = ["a", "b", "c"]
TYPES = ["fall", "loitering"]


def frame(rows: Sequence[tuple[datetime, str, str, str | None]]) -> pd.DataFrame:
    data = pd.DataFrame(list(rows), columns=["ts", "zone", "type", "subject"])
    data["ts"] = pd.to_datetime(data["ts"], utc=True)
    data.attrs.update(zones=ZONES, types=TYPES, hours=hours(DAY, DAY + timedelta(days=1)))
    return data


def at(hour: float) -> datetime:
    return DAY + timedelta(hours=hour)


def test_a_huge_epsilon_gives_the_true_counts() -> None:
    noisy = laplace_counts(["0"] * 40 + ["2"] * 3 + ["elsewhere"], ["0", "1", "2"],
                           max_contributions=4, epsilon=1e6)
    assert noisy.counts == (40, 0, 3)  # a label outside the categories is not counted


def test_the_noise_is_scaled_to_sensitivity_over_epsilon() -> None:
    noisy = laplace_counts([], [str(i) for i in range(4000)], max_contributions=2, epsilon=0.5)
    assert noisy.epsilon <= 0.5
    assert noisy.scale == pytest.approx(4.0, rel=1e-6)
    assert noisy.sensitivity == 2
    # Discrete Laplace of scale 4: mean |noise| = 2·e^(-1/4) / (1 - e^(-1/2)) ≈ 3.92.
    mean_abs = sum(abs(c) for c in noisy.counts) / len(noisy.counts)
    assert 3.4 < mean_abs < 4.5
    assert sum(abs(c) > noisy.accuracy for c in noisy.counts) / len(noisy.counts) < 0.07


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_contributions": 0, "epsilon": 1.0}, "at least one row"),
    ({"max_contributions": 1, "epsilon": 0.0}, "positive"),
    ({"max_contributions": 1, "epsilon": float("nan")}, "positive"),
])
def test_bad_parameters_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(BadReleaseParams, match=message):
        laplace_counts(["0"], ["0"], **kwargs)  # type: ignore[arg-type]


def test_a_subject_is_bounded_per_cell_and_in_the_number_of_cells() -> None:
    rows = pd.DataFrame({"who": ["p"] * 10 + ["p", "p", "p", "p", "p"] + ["q"],
                         "cell": [0] * 10 + [1, 2, 3, 4, 5] + [0]})
    kept = bound_contributions(rows, who="who", cell="cell", per_cell=2, cells=4)
    assert sorted(kept.loc[kept["who"] == "p", "cell"]) == [0, 0, 1, 2, 3]
    assert list(kept.loc[kept["who"] == "q", "cell"]) == [0]


def test_one_subject_moves_the_released_counts_by_at_most_the_sensitivity() -> None:
    base = [(at(8.1), "a", "loitering", f"s{i}") for i in range(6)]
    heavy = [(at(h + 0.01 * i), z, "loitering", "stalker")
             for h in range(24) for z in ZONES for i in range(5)]
    method = EventCountsDP()
    params = {"epsilon": 1e6, "max_events_per_cell": 2, "max_cells_per_subject": 3}
    without = method.release(frame(base), params).table["count"]
    with_one = method.release(frame(base + heavy), params).table["count"]
    assert int((with_one - without).abs().sum()) == 2 * 3


def test_event_counts_publish_every_cell_of_the_public_grid_never_negative() -> None:
    data = frame([(at(8.5), "a", "loitering", "s1"), (at(8.6), "a", "loitering", "s2"),
                  (at(9.2), "b", "fall", None)])
    released = EventCountsDP().release(data, {"epsilon": 0.05})
    assert list(released.table.columns) == ["hour", "zone", "type", "count"]
    assert len(released.table) == 24 * len(ZONES) * len(TYPES)
    assert (released.table["count"] >= 0).all()
    assert released.epsilon == 0.05
    m = released.measures
    assert (m["epsilon_spent"], m["sensitivity"], m["events_true"]) == (0.05, 8, 3)
    assert m["noise_scale"] == pytest.approx(160.0, rel=1e-6)
    assert float(m["utility_mae"]) > 0
    assert 0 <= released.linkage_success <= 1


def test_event_counts_refuse_an_input_without_its_public_grid() -> None:
    data = frame([(at(8.5), "a", "loitering", "s1")])
    data.attrs.clear()
    with pytest.raises(BadReleaseParams, match="public"):
        EventCountsDP().release(data, {})


def test_uniqueness_is_the_share_of_records_alone_in_their_cell() -> None:
    table = pd.DataFrame({"zone": ["a", "b", "c"], "count": [1, 1, 8]})
    assert uniqueness(table, "count") == 0.2


def test_a_transition_needs_two_zones_on_one_day() -> None:
    data = frame([
        (at(8.0), "a", "loitering", "t1"), (at(8.5), "a", "fall", "t1"),  # same zone: no move
        (at(9.1), "b", "loitering", "t1"),                                  # a → b at 9
        (at(9.3), "a", "loitering", "t1"), (at(9.4), "b", "loitering", "t1"),  # b → a, a → b at 9
        (at(23.9), "a", "loitering", "t2"), (at(24.1), "c", "loitering", "t2"),  # across midnight
        (at(10.0), "a", "crowd", None), (at(10.1), "b", "crowd", None),     # no subject
    ])
    moves = transitions(data)
    assert sorted(map(tuple, moves[["from_zone", "to_zone"]].to_numpy().tolist())) == [
        ("a", "b"), ("b", "a")]  # t1's second a → b in the same hour is counted once
    assert set(moves["hour"]) == {pd.Timestamp(at(9))}


def test_movement_suppresses_cells_under_five_tracks_and_counts_them() -> None:
    rows = [(at(8.1), "a", "loitering", f"t{i}") for i in range(7)]
    rows += [(at(8.6), "b", "loitering", f"t{i}") for i in range(7)]  # 7 tracks a → b at 8
    rows += [(at(8.7), "c", "loitering", f"t{i}") for i in range(3)]  # 3 tracks b → c at 8
    released = Movement().release(frame(rows), {})
    assert released.table.to_dict("records") == [
        {"hour": pd.Timestamp(at(8)), "from_zone": "a", "to_zone": "b", "tracks": 7}]
    m = released.measures
    assert (m["cells_suppressed"], m["transitions_suppressed"], m["k"]) == (1, 3, 7)
    assert released.linkage_success == 0.0
    assert released.epsilon == 0.0
    with pytest.raises(BadReleaseParams, match="at least 5"):
        Movement().release(frame(rows), {"min_tracks": 4})


def test_movement_with_epsilon_is_noisy_and_still_thresholded() -> None:
    rows = [(at(8.1), "a", "loitering", f"t{i}") for i in range(30)]
    rows += [(at(8.6), "b", "loitering", f"t{i}") for i in range(30)]
    released = Movement().release(frame(rows), {"epsilon": 1e6})
    assert released.epsilon == 1e6
    assert released.table["tracks"].tolist() == [30]
    noisy = Movement().release(frame(rows), {"epsilon": 0.5})
    assert (noisy.table["tracks"] >= 5).all()
    assert noisy.measures["sensitivity"] == 4
