"""``meter_energy_dp``: smart-meter energy per zone and time bucket, with epsilon-DP.

The unit of privacy is one household (one meter). Its energy is bounded before it is
summed: in every bucket, at most ``max_kwh_per_day × bucket_hours / 24`` kWh (what it
used above that is cut, and reported). A household lives in one zone, so it moves one
sum per bucket by at most that bound, and the vector of sums by at most
``buckets × bound`` in L1: the sensitivity OpenDP's Laplace noise is scaled to
(:func:`analytics.privacy.dp.laplace_sums`). Every zone with a registered meter and
every bucket of the input range is published (a fixed grid), negative noisy sums as 0.

Unlike ``meter_load`` (100 households and 15 % per cell, no noise), a cell here may
cover few households: the noise, not the crowd, protects them. The attack is the meter
releases' nearest-curve matching (:mod:`analytics.privacy.linkage`) on the published
sums per household.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from analytics.privacy.cctv_input import grid, hours, number
from analytics.privacy.dp import laplace_sums
from analytics.privacy.errors import BadReleaseParams
from analytics.privacy.linkage import nearest_curve_success
from analytics.privacy.meters import load_meter_hours
from analytics.privacy.method import Period, Released

Conn = psycopg.Connection[tuple[Any, ...]]
_ZONES = sql.SQL("SELECT DISTINCT coalesce(zone, '') FROM hub.devices WHERE kind = 'smart_meter' "
                 "ORDER BY 1")


class MeterEnergyDP:
    """Energy per zone and bucket, differentially private per household."""

    dataset = "meter_energy_dp"
    defaults: Mapping[str, object] = {"epsilon": 1.0, "bucket_hours": 24, "max_kwh_per_day": 10.0}

    def load(self, conn: Conn, period: Period) -> pd.DataFrame:
        frame = load_meter_hours(conn, period)
        frame.attrs["zones"] = [str(r[0]) for r in conn.execute(_ZONES).fetchall()]
        frame.attrs["hours"] = hours(period.start, period.end)
        return frame

    def release(self, data: pd.DataFrame, params: Mapping[str, object]) -> Released:
        merged = {**self.defaults, **params}
        epsilon = number(merged, "epsilon", low=1e-6)
        width = int(number(merged, "bucket_hours", low=1, integer=True))
        bound = number(merged, "max_kwh_per_day", low=1e-6) * width / 24
        every_hour = pd.DatetimeIndex(grid(data, "hours"))
        zones = grid(data, "zones")
        if every_hour.empty or not zones:
            raise BadReleaseParams("The input range holds no hour, or no zone has a smart meter.")
        buckets = every_hour[::width]
        position = every_hour.get_indexer(pd.DatetimeIndex(data["hour"]))
        frame = data.assign(bucket=buckets[position // width], kwh=data["kwh"].clip(lower=0.0))
        per_household = frame.groupby(["household", "zone", "bucket"], sort=False)["kwh"].sum()
        clamped = per_household.clip(upper=bound)
        cube = pd.MultiIndex.from_product([buckets, zones], names=["bucket", "zone"])
        true = per_household.groupby(["bucket", "zone"]).sum().reindex(cube, fill_value=0.0)
        kept = clamped.groupby(["bucket", "zone"]).sum().reindex(cube, fill_value=0.0)
        noisy = laplace_sums(kept.tolist(), sensitivity=len(buckets) * bound, epsilon=epsilon)
        shown = pd.Series(noisy.sums, index=cube).clip(lower=0.0).round(1)
        table = cube.to_frame(index=False).assign(kwh=shown.to_numpy())
        measures: dict[str, float | int | str] = {
            "mechanism": "Laplace, OpenDP laplace over bounded sums",
            "epsilon_spent": noisy.epsilon, "noise_scale": noisy.scale,
            "sensitivity": noisy.sensitivity, "accuracy_95": noisy.accuracy,
            "utility_mae": float((shown - true).abs().mean()),
            "utility_mae_bounding": float((kept - true).abs().mean()),
            "kwh_true": float(true.sum()), "kwh_cut_by_bound": float(true.sum() - kept.sum()),
            "households": int(data["household"].nunique()), "cells": len(cube),
            "cells_suppressed": 0, "max_kwh_per_bucket": bound,
        }
        return Released(table=table, measures=measures,
                        linkage_success=_attack(per_household, shown), epsilon=epsilon,
                        notes=(f"Sums carry Laplace noise of scale {noisy.scale:.3g} kWh.",
                               "The unit of privacy is one household."))


def _attack(per_household: pd.Series[float], sums: pd.Series[float]) -> float:
    """Nearest-curve matching of each household's true bucket curve to the published
    sums per household of each zone (the attacker knows how many households a zone has)."""
    if per_household.empty:
        return 0.0
    curves = per_household.droplevel("zone").unstack("bucket", fill_value=0)
    own = per_household.reset_index().drop_duplicates("household").set_index("household")["zone"]
    sizes = own.value_counts()
    published = sums.unstack("bucket").reindex(sizes.index)
    published = published.div(sizes, axis=0)
    return nearest_curve_success(curves, own, published, sizes)


METER_DP_METHODS = (MeterEnergyDP(),)
