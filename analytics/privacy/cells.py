"""Meter cells made safe by merging zones and lengthening buckets (see meters.py). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.privacy.hierarchy import district_of

# Buckets start at Korean midnight of a Monday (2000-01-03 00:00 KST), so days and weeks
# are local ones and every shorter bucket nests inside every longer one.
ORIGIN = pd.Timestamp("2000-01-02T15:00:00Z")
_ORIGIN_NS = ORIGIN.value
CITY = "*"
TABLE_COLUMNS = ("bucket_start", "bucket_hours", "district", "zones", "household_type", "households",
                 "energy_kwh", "mean_kw")


@dataclass(frozen=True, slots=True)
class CellRules:
    min_households: int
    max_share: float
    buckets: tuple[pd.Timedelta, ...]  # shortest first, each a multiple of the one before
    enforce: bool = True  # False only in tests: shows what the rules prevent


@dataclass(frozen=True, slots=True)
class Cells:
    table: pd.DataFrame  # the published cells (TABLE_COLUMNS)
    cells_suppressed: int
    rows_suppressed: int  # household-hours in suppressed cells
    groups_merged: int  # zone groups made of more than one zone
    max_share: float  # the largest share of one household in a published cell
    mae: float  # kWh per zone × household type × hour
    group_of: pd.Series  # household → group number
    group_curves: pd.DataFrame  # group × hour: published kWh per household, NaN where not
    group_sizes: pd.Series  # group → households
    household_curves: pd.DataFrame  # household × hour (kWh), the attacker's knowledge


def zone_partition(sizes: Mapping[str, int], minimum: int) -> list[list[str]]:
    """Zones of one district and type: big ones alone, small ones merged (see meters.py)."""
    big = sorted((z for z, n in sizes.items() if n >= minimum), key=lambda z: (sizes[z], z))
    small = sorted(z for z, n in sizes.items() if n < minimum)
    parts = [[z] for z in big]
    if small:
        if big and sum(sizes[z] for z in small) < minimum:
            parts[0] = sorted(parts[0] + small)
        else:
            parts.append(small)
    return parts


def _groups(data: pd.DataFrame, rules: CellRules) -> pd.DataFrame:
    """household → (group, district, zones, household_type, zone); see meters.py."""
    households = data.groupby("household", sort=True)[["zone", "household_type"]].first()
    households["district"] = households["zone"].map(district_of)
    labels: dict[tuple[str, str], tuple[str, str]] = {}  # (type, zone) → (district, zones)
    for (district, kind), sub in households.groupby(["district", "household_type"], sort=True):
        sizes = {str(z): int(n) for z, n in sub["zone"].value_counts().items()}
        parts = zone_partition(sizes, rules.min_households) if rules.enforce else [[z] for z in sorted(sizes)]
        for part in parts:
            for zone in part:
                labels[(str(kind), zone)] = (str(district), ",".join(part))
    if rules.enforce:
        _merge_city(households, labels, rules.min_households)
    pairs = [labels[(k, z)] for k, z in zip(households["household_type"], households["zone"], strict=True)]
    households["district"] = [d for d, _ in pairs]
    households["zones"] = [z for _, z in pairs]
    keys = households[["district", "zones", "household_type"]].drop_duplicates().sort_values(
        ["district", "zones", "household_type"]).reset_index(drop=True)
    keys["group"] = np.arange(len(keys))
    return households.reset_index().merge(keys, on=["district", "zones", "household_type"]).set_index(
        "household")


def _merge_city(households: pd.DataFrame, labels: dict[tuple[str, str], tuple[str, str]],
                minimum: int) -> None:
    """Districts whose group of a type is still too small: their groups merge city-wide."""
    counts: dict[tuple[str, str, str], int] = {}
    for kind, zone in zip(households["household_type"], households["zone"], strict=True):
        key = (str(kind), *labels[(str(kind), str(zone))])
        counts[key] = counts.get(key, 0) + 1
    small = [k for k, n in counts.items() if n < minimum]
    for kind in sorted({k for k, _, _ in small}):
        parts = [(d, z) for k, d, z in small if k == kind]
        # The exact zones, so that an outsider can check the cell (verify.py).
        zones = ",".join(sorted(z for _, label in parts for z in label.split(",")))
        for (k, zone), label in list(labels.items()):
            if k == kind and label in parts:
                labels[(k, zone)] = (CITY, zones)


def _window(times_ns: np.ndarray, length: pd.Timedelta) -> np.ndarray:
    """The number of the *length* bucket (counted from ORIGIN) each time falls in."""
    return np.asarray((times_ns - _ORIGIN_NS) // length.value, dtype=np.int64)


_SPAN = np.int64(1) << 32  # a (group, window) pair as one int64 key


def _evaluate(rows: pd.DataFrame, key: np.ndarray, rules: CellRules) -> pd.DataFrame:
    """Per (group, window) key: households, total, top household and whether the rules hold."""
    per = pd.DataFrame({"key": key, "household": rows["household"].to_numpy(), "kwh": rows["kwh"].to_numpy()})
    per = per.groupby(["key", "household"], sort=False)["kwh"].sum().reset_index()
    agg = pd.DataFrame(per.groupby("key")["kwh"].agg(households="size", total="sum", top="max"))
    agg["ok"] = ((agg["households"] >= rules.min_households) & (agg["top"] <= rules.max_share * agg["total"])
                 if rules.enforce else True)
    return agg


def build_cells(data: pd.DataFrame, rules: CellRules) -> Cells:
    """Bottom-up, a window can be split when every one of its sub-windows can be published
    or split; top-down, each row goes to the finest window that publishes it whole."""
    households = _groups(data, rules)
    rows = pd.DataFrame({"household": data["household"].to_numpy(),
                         "hour": pd.to_datetime(data["hour"], utc=True).dt.as_unit("ns").astype("int64"),
                         "kwh": data["kwh"].to_numpy(dtype=float)})
    rows["group"] = households["group"].reindex(rows["household"]).to_numpy()
    group = rows["group"].to_numpy(dtype=np.int64)
    windows = [_window(rows["hour"].to_numpy(), b) for b in rules.buckets]
    keys = [group * _SPAN + w for w in windows]
    levels = [_evaluate(rows, k, rules) for k in keys]
    usable = levels[0]["ok"]  # a window publishable as it is, or split into usable ones
    split = pd.Series(False, index=levels[0].index)
    splits = [split]
    for i in range(1, len(levels)):
        child = usable.index.to_numpy()
        ratio = rules.buckets[i].value // rules.buckets[i - 1].value
        parent = (child // _SPAN) * _SPAN + (child % _SPAN) // ratio
        split = usable.groupby(parent).all().reindex(levels[i].index, fill_value=False)
        usable = split | levels[i]["ok"]
        splits.append(split)
    level_of = np.full(len(rows), -1)
    undecided = np.ones(len(rows), dtype=bool)
    for i in reversed(range(len(levels))):
        here = pd.Series(keys[i][undecided])
        ok = levels[i]["ok"].reindex(here).to_numpy(dtype=bool)
        down = splits[i].reindex(here).to_numpy(dtype=bool)
        index = np.flatnonzero(undecided)
        if i == len(levels) - 1:
            undecided[index[~(ok | down)]] = False  # suppressed
        chosen = ~down & ok
        level_of[index[chosen]] = i
        undecided[index[chosen]] = False
    estimate = np.zeros(len(rows))
    published: list[pd.DataFrame] = []
    for i, length in enumerate(rules.buckets):
        mine = level_of == i
        cells = levels[i].loc[np.unique(keys[i][mine])].copy()
        hours = length / pd.Timedelta(hours=1)
        cells["rate"] = cells["total"] / (cells["households"] * hours)
        cells["bucket_hours"] = int(hours)
        cells["group"] = cells.index.to_numpy() // _SPAN
        cells["cell"] = _ORIGIN_NS + (cells.index.to_numpy() % _SPAN) * length.value
        estimate[mine] = cells["rate"].reindex(keys[i][mine]).to_numpy()
        published.append(cells)
    top = levels[-1]
    suppressed = int((~(top["ok"] | splits[-1])).sum())
    table = pd.concat(published).reset_index(drop=True)
    return _result(rows.assign(covered=level_of >= 0), households, table, estimate, suppressed,
                   int((level_of < 0).sum()))


def _result(rows: pd.DataFrame, households: pd.DataFrame, cells: pd.DataFrame, estimate: np.ndarray,
            suppressed: int, rows_suppressed: int) -> Cells:
    meta = households.drop_duplicates("group").set_index("group")[["district", "zones", "household_type"]]
    cells = cells.join(meta, on="group")
    table = pd.DataFrame({
        "bucket_start": pd.to_datetime(cells["cell"].astype("int64"), unit="ns", utc=True),
        "bucket_hours": cells["bucket_hours"].astype("int64"),
        "district": cells["district"].astype(str), "zones": cells["zones"].astype(str),
        "household_type": cells["household_type"].astype(str),
        "households": cells["households"].astype("int64"),
        "energy_kwh": cells["total"].round(3), "mean_kw": cells["rate"].round(4),
    }).sort_values(["district", "zones", "household_type", "bucket_start"]).reset_index(drop=True)
    rows = rows.assign(estimate=estimate, zone=households["zone"].reindex(rows["household"]).to_numpy(),
                       kind=households["household_type"].reindex(rows["household"]).to_numpy())
    fine = rows.groupby(["zone", "kind", "hour"])[["kwh", "estimate"]].sum()
    mae = float((fine["kwh"] - fine["estimate"]).abs().mean()) if len(fine) else 0.0
    shares = cells["top"] / cells["total"].where(cells["total"] > 0)
    published_rows = rows[rows["covered"]]
    curves = published_rows.groupby(["group", "hour"])["estimate"].first().unstack("hour")
    return Cells(
        table=table, cells_suppressed=suppressed, rows_suppressed=rows_suppressed,
        groups_merged=int(meta["zones"].str.contains(",").sum()),
        max_share=float(shares.max()) if shares.notna().any() else 0.0, mae=mae,
        group_of=households["group"], group_curves=curves,
        group_sizes=households.groupby("group").size(),
        household_curves=rows.pivot_table(index="household", columns="hour", values="kwh", aggfunc="sum"))
