"""k-anonymity and l-diversity of household bands, checked by pycanon (an independent library).

The same data released with the rule disabled (a test-only parameter) shows pycanon
finding k < 5 and l < 2, so these tests fail if the rule is dropped.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.privacy.errors import BadReleaseParams
from analytics.privacy.kanon import QUASI_IDENTIFIERS, SENSITIVE, HouseholdBands, bands
from analytics.privacy.linkage import uniqueness
from analytics.privacy.verify import pycanon_k_l

START = pd.Timestamp("2026-11-22T15:00:00Z")


def households() -> pd.DataFrame:
    """Two districts; a zone with 3 households, one type seen twice only, bands mixed."""
    rows = []
    layout = [("mapo-gu/a", "family", 40), ("mapo-gu/a", "single_worker", 30), ("mapo-gu/b", "family", 3),
              ("jung-gu/x", "single_elderly", 12), ("jung-gu/x", "vacant", 2), ("jung-gu/y", "family", 20)]
    n = 0
    for zone, kind, count in layout:
        for i in range(count):
            n += 1
            # Four bands in turn; the vacant homes draw only their fridge: one band.
            rows.append((f"m{n:04d}", zone, kind, 0.05 if kind == "vacant" else [0.1, 0.2, 0.4, 0.8][i % 4]))
    frame = pd.DataFrame(rows, columns=["household", "zone", "household_type", "kw"]).set_index("household")
    return frame.assign(period_start=START)


def release(**params: object) -> tuple[pd.DataFrame, dict[str, object], float]:
    method = HouseholdBands()
    released = method.release(households(), {**method.defaults, **params})
    return released.table, dict(released.measures), released.linkage_success


def test_the_published_table_is_5_anonymous_and_2_diverse_by_pycanon() -> None:
    table, measures, linkage = release()
    k, l = pycanon_k_l(table, list(QUASI_IDENTIFIERS), list(SENSITIVE))  # noqa: E741
    assert k >= 5
    assert l >= 2
    assert (measures["k"], measures["l"]) == (k, l)
    assert linkage == 0.0  # no record is unique on its quasi-identifiers
    # The information lost is reported: the levels chosen and the rows suppressed.
    # Zones kept: suppressing mapo-gu/b's 3 families and jung-gu's 2 vacant homes (under 5 %).
    assert measures["generalisation"] == "zone: zone, household_type: type"
    assert measures["rows_suppressed"] == 5
    assert len(table) == 107 - 5
    assert set(table.columns) == {"period_start", "row", "zone", "household_type", "consumption_band"}


def test_without_the_rule_pycanon_finds_k_below_5_and_l_below_2() -> None:
    table, _, _ = release(enforce_rules=False)
    k, l = pycanon_k_l(table, list(QUASI_IDENTIFIERS), list(SENSITIVE))  # noqa: E741
    assert k < 5
    assert l < 2


def test_the_linkage_attack_counts_records_unique_on_their_quasi_identifiers() -> None:
    table = pd.DataFrame({"zone": ["a", "a", "b", "c"], "household_type": ["x", "x", "x", "x"]})
    assert uniqueness(table, QUASI_IDENTIFIERS) == 0.5


def test_less_suppression_allowed_generalises_further() -> None:
    table, measures, _ = release(max_suppression=0.02)
    k, l = pycanon_k_l(table, list(QUASI_IDENTIFIERS), list(SENSITIVE))  # noqa: E741
    assert k >= 5
    assert l >= 2
    assert measures["generalisation"] == "zone: district, household_type: type"
    assert measures["rows_suppressed"] == 2  # b's families join mapo-gu's; the vacant homes stay out
    table, measures, _ = release(k=40, max_suppression=0.5)
    assert pycanon_k_l(table, list(QUASI_IDENTIFIERS), list(SENSITIVE))[0] >= 40


def test_an_impossible_k_is_refused_with_the_reason() -> None:
    with pytest.raises(BadReleaseParams, match="No generalisation reaches k=500"):
        release(k=500)


def test_bands_label_weekly_consumption() -> None:
    assert list(bands(pd.Series([0.0, 0.15, 0.5, 2.0]), (0.15, 0.3, 0.6, 1.2))) == [
        "<0.15", "0.15-0.3", "0.3-0.6", ">=1.2"]
