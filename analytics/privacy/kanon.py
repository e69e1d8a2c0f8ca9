"""Household consumption bands (dataset ``meter_households``): k-anonymity and l-diversity.

One row per household: its zone and household type (quasi-identifiers) and the band of
its mean power over the input range (sensitive). Full-domain generalisation over the hierarchies of
hierarchy.py (zone → district → city; type → group → any), searched from the least
general combination up; at each, the rows of equivalence classes with fewer than ``k``
rows or fewer than ``l`` distinct bands are suppressed, and the first combination that
suppresses at most ``max_suppression`` of the rows is published (ties: fewer rows
suppressed). Information loss is reported: the levels chosen and the rows suppressed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise, product

import numpy as np
import pandas as pd
import psycopg

from analytics.privacy.errors import BadReleaseParams
from analytics.privacy.hierarchy import TYPE_LEVELS, ZONE_LEVELS, generalise_type, generalise_zone
from analytics.privacy.linkage import uniqueness
from analytics.privacy.meters import load_meter_hours
from analytics.privacy.method import Measure, Period, Released

QUASI_IDENTIFIERS = ("zone", "household_type")
SENSITIVE = ("consumption_band",)
DEFAULT_BANDS = (0.15, 0.3, 0.6, 1.2)  # mean kW: upper edges of all but the last band


@dataclass(frozen=True, slots=True)
class Anonymised:
    table: pd.DataFrame
    levels: tuple[int, int]  # (zone level, type level)
    rows_suppressed: int
    k: int
    l: int  # noqa: E741 - the l of l-diversity


def bands(kw: pd.Series, edges: tuple[float, ...]) -> pd.Series:
    """``"<0.15"``, ``"0.15-0.3"`` … ``">=1.2"`` (mean kW)."""
    labels = [f"<{edges[0]:g}", *(f"{a:g}-{b:g}" for a, b in pairwise(edges)),
              f">={edges[-1]:g}"]
    codes = np.searchsorted(np.asarray(edges), kw.to_numpy(dtype=float), side="right")
    return pd.Series([labels[c] for c in codes], index=kw.index, dtype=object)


def _classes(table: pd.DataFrame) -> pd.DataFrame:
    grouped = table.groupby(list(QUASI_IDENTIFIERS))["consumption_band"]
    return pd.DataFrame(grouped.agg(size="size", distinct="nunique"))


def anonymise(households: pd.DataFrame, k: int, l: int, max_suppression: float,  # noqa: E741
              enforce: bool = True) -> Anonymised:
    """*households*: zone, household_type, consumption_band. Pure."""
    if not enforce:
        classes = _classes(households)
        return Anonymised(households.copy(), (0, 0), 0, int(classes["size"].min()),
                          int(classes["distinct"].min()))
    best: Anonymised | None = None
    for zone_level, type_level in sorted(product(range(len(ZONE_LEVELS)), range(len(TYPE_LEVELS))),
                                         key=lambda lv: (sum(lv), lv)):
        if best is not None and sum(best.levels) < zone_level + type_level:
            break
        table = households.assign(
            zone=households["zone"].map(lambda z, lv=zone_level: generalise_zone(z, lv)),
            household_type=households["household_type"].map(lambda t, lv=type_level: generalise_type(t, lv)))
        classes = _classes(table)
        good = classes[(classes["size"] >= k) & (classes["distinct"] >= l)].index
        keep = pd.MultiIndex.from_frame(table[list(QUASI_IDENTIFIERS)]).isin(good)
        dropped = int((~keep).sum())
        if dropped > max_suppression * len(table) or keep.sum() == 0:
            continue
        kept = table[keep]
        found = _classes(kept)
        candidate = Anonymised(kept, (zone_level, type_level), dropped, int(found["size"].min()),
                               int(found["distinct"].min()))
        if best is None or candidate.rows_suppressed < best.rows_suppressed:
            best = candidate
    if best is None:
        raise BadReleaseParams(f"No generalisation reaches k={k}, l={l} while suppressing at most "
                               f"{max_suppression:.0%} of the rows; raise max_suppression or lower k, l.")
    return best


@dataclass(frozen=True, slots=True)
class HouseholdBands:
    """Households' weekly consumption band by (generalised) zone and household type."""

    dataset: str = "meter_households"

    @property
    def defaults(self) -> Mapping[str, object]:
        return {"k": 5, "l": 2, "max_suppression": 0.05, "band_edges_kw": list(DEFAULT_BANDS)}

    def load(self, conn: psycopg.Connection[tuple[object, ...]], period: Period) -> pd.DataFrame:
        hours = load_meter_hours(conn, period)
        out = hours.groupby("household").agg(zone=("zone", "first"),
                                              household_type=("household_type", "first"),
                                              kw=("kwh", "mean"))
        return out.assign(period_start=pd.Timestamp(period.start).tz_convert("UTC"))

    def release(self, data: pd.DataFrame, params: Mapping[str, object]) -> Released:
        try:
            k, l = int(str(params["k"])), int(str(params["l"]))  # noqa: E741
            max_suppression = float(str(params["max_suppression"]))
            edges = params["band_edges_kw"]
            if not isinstance(edges, list | tuple) or not edges:
                raise TypeError("band_edges_kw")
            band_edges = tuple(sorted(float(str(e)) for e in edges))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadReleaseParams(f"k-anonymity parameters are wrong ({exc}): k, l whole numbers, "
                                   "max_suppression a share, band_edges_kw a list of kW.") from None
        if k < 2 or l < 1:
            raise BadReleaseParams("k must be at least 2 and l at least 1.")
        households = pd.DataFrame({"zone": data["zone"].astype(str),
                                   "household_type": data["household_type"].astype(str),
                                   "consumption_band": bands(data["kw"], band_edges)})
        result = anonymise(households, k, l, max_suppression, bool(params.get("enforce_rules", True)))
        # Rows sorted on their published values, so that their order says nothing of the households'.
        table = result.table.sort_values([*QUASI_IDENTIFIERS, *SENSITIVE]).reset_index(drop=True)
        start = data["period_start"].iloc[0] if len(data) else pd.Timestamp.now(tz="UTC")
        table.insert(0, "row", np.arange(1, len(table) + 1, dtype=np.int64))
        table.insert(0, "period_start", pd.Series([start] * len(table), dtype="datetime64[ns, UTC]"))
        measures: dict[str, Measure] = {
            "k": result.k, "l": result.l, "rows": len(table), "rows_suppressed": result.rows_suppressed,
            "generalisation": f"zone: {ZONE_LEVELS[result.levels[0]]}, "
                              f"household_type: {TYPE_LEVELS[result.levels[1]]}",
            "cells_suppressed": 0, "epsilon_spent": 0.0}
        return Released(table=table, measures=measures,
                        linkage_success=uniqueness(table, QUASI_IDENTIFIERS),
                        quasi_identifiers=QUASI_IDENTIFIERS, sensitive=SENSITIVE)
