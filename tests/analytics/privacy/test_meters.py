"""Meter aggregates (pure): the 100-household and 15 % rules, merging, suppression, utility, linkage.

Each rule has a test that fails when the rule is dropped: the same data released with
``enforce_rules: false`` publishes what the rules refuse.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from analytics.privacy.cells import zone_partition
from analytics.privacy.errors import BadReleaseParams
from analytics.privacy.meters import MeterLoad

# A Monday, 00:00 in Seoul: buckets of up to a week start here.
MONDAY = datetime(2026, 11, 22, 15, tzinfo=UTC)


def households(zones: dict[str, int], kind: str = "family", hours: int = 24,
               kwh: float = 0.5) -> pd.DataFrame:
    """*zones* → number of households, each drawing *kwh* every hour (a little noise by id)."""
    rows = []
    n = 0
    for zone, count in zones.items():
        for _ in range(count):
            n += 1
            for h in range(hours):
                rows.append((f"m{n:05d}", zone, kind, MONDAY + pd.Timedelta(hours=h), kwh + (n % 7) * 0.01))
    return pd.DataFrame(rows, columns=["household", "zone", "household_type", "hour", "kwh"])


def release(data: pd.DataFrame, **params: object) -> pd.DataFrame:
    method = MeterLoad()
    return method.release(data, {**method.defaults, **params}).table


def test_every_cell_covers_100_households_and_small_zones_are_merged_in_their_district() -> None:
    data = households({"mapo-gu/a": 150, "mapo-gu/b": 60, "mapo-gu/c": 50, "jung-gu/x": 40})
    table = release(data)
    assert table["households"].min() >= 100
    groups = table.groupby(["district", "zones"])["households"].first().to_dict()
    # a alone; b and c together (110); jung-gu's 40 are too few even merged city-wide.
    assert groups == {("mapo-gu", "mapo-gu/a"): 150, ("mapo-gu", "mapo-gu/b,mapo-gu/c"): 110}
    # Without the rule, every zone is published, the smallest with 40 households.
    loose = release(data, enforce_rules=False)
    assert loose["households"].min() == 40


def test_cells_that_cannot_be_made_safe_are_suppressed_and_counted() -> None:
    data = households({"jung-gu/x": 40, "jung-gu/y": 30})
    released = MeterLoad().release(data, MeterLoad().defaults)
    assert released.table.empty
    assert released.measures["cells_suppressed"] == 1  # one week of one group
    assert released.measures["household_hours_suppressed"] == 70 * 24
    # The loss shows in the utility: every true hour's energy is missed.
    true_hours = data.groupby(["zone", "hour"])["kwh"].sum()
    assert released.measures["utility_mae_kwh"] == pytest.approx(true_hours.mean())


def test_too_few_households_of_a_type_in_every_district_merge_city_wide() -> None:
    jung = households({"jung-gu/x": 50}, "vacant")
    mapo = households({"mapo-gu/a": 60}, "vacant")
    data = pd.concat([mapo, jung.assign(household="j" + jung["household"])])
    table = release(data)
    assert set(table["district"]) == {"*"}
    assert set(table["zones"]) == {"jung-gu/x,mapo-gu/a"}
    assert (table["households"] == 110).all()


def test_a_household_above_15_percent_makes_its_buckets_longer() -> None:
    data = households({"mapo-gu/a": 120}, hours=48)
    spike = (data["household"] == "m00001") & (data["hour"] == MONDAY + pd.Timedelta(hours=5))
    data.loc[spike, "kwh"] = 100.0  # 100 kWh in an hour where 119 others draw about 0.53 each
    table = release(data)
    assert table["households"].min() >= 100
    # The spike's hour, 3 h and 6 h fail (100 / (100 + 119 × 6 × 0.53) > 15 %); its day passes.
    day = table[table["bucket_hours"] == 24]
    assert list(day["bucket_start"]) == [MONDAY]
    hourly = table[table["bucket_hours"] == 1]
    assert len(hourly) == 24  # the second day stays hourly
    assert (hourly["bucket_start"] >= MONDAY + pd.Timedelta(days=1)).all()
    # Every hour is covered exactly once.
    assert table["bucket_hours"].sum() == 48
    # Without the rule the spike's hour is published with the household at 61 % of it.
    loose = release(data, enforce_rules=False)
    hour = loose[loose["bucket_start"] == MONDAY + pd.Timedelta(hours=5)].iloc[0]
    assert 100.0 / hour["energy_kwh"] > 0.15


def test_utility_and_linkage_are_measured() -> None:
    lone = households({"mapo-gu/b": 1}, kwh=3.0).assign(household="lone")
    data = pd.concat([households({"mapo-gu/a": 120}), lone], ignore_index=True)
    safe = MeterLoad().release(data, MeterLoad().defaults)
    assert int(safe.measures["k"]) >= 100
    assert safe.linkage_success <= 1 / 100
    assert float(safe.measures["utility_mae_kwh"]) > 0  # b is merged into a: its hours are estimated
    loose = MeterLoad().release(data, {**MeterLoad().defaults, "enforce_rules": False})
    assert loose.measures["utility_mae_kwh"] == pytest.approx(0.0)
    # b's one household, published alone, is found by its curve.
    assert loose.linkage_success > 0.01


def test_zone_partition_keeps_big_zones_and_merges_the_rest() -> None:
    assert zone_partition({"a": 150, "b": 60, "c": 50}, 100) == [["a"], ["b", "c"]]
    assert zone_partition({"a": 150, "b": 10}, 100) == [["a", "b"]]
    assert zone_partition({"a": 10, "b": 20}, 100) == [["a", "b"]]


@pytest.mark.parametrize("params", [{"min_households": 0}, {"max_share": 2}, {"buckets": "1h"},
                                    {"min_households": "many"}])
def test_wrong_parameters_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(BadReleaseParams):
        release(households({"mapo-gu/a": 1}), **params)
