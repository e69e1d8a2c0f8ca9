"""Smart-meter load aggregates (dataset ``meter_load``): the 100-household and 15 % rules.

Input: each smart meter's ``power_kw`` readings, averaged per household and hour (an
hour's energy in kWh), with its zone and household type (hub.households). Cells are
zone group × time bucket × household type; a cell is published only when it covers at
least ``min_households`` households and no household contributes more than
``max_share`` of its energy. Where that fails:

1. zones: per district and household type, zones with enough households stay alone;
   the others of the district are merged into one group (joined to the smallest zone
   that passes when they are still too few together);
2. time: buckets grow along ``buckets`` (1 h → 3 h → 6 h → 1 d → 7 d, aligned on
   Korean midnight and Monday); a longer bucket replaces all the shorter cells inside
   it when any of them fails, so published cells never overlap;
3. cells still failing at the longest bucket are suppressed and counted.

Utility: the mean absolute error, over every zone × household type × hour, between its
true energy and the one a reader estimates from the published cells (the cell's energy
per household-hour × the households present; 0 where suppressed).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from analytics.privacy.cells import CellRules, build_cells
from analytics.privacy.errors import BadReleaseParams
from analytics.privacy.linkage import nearest_curve_success
from analytics.privacy.method import Measure, Period, Released

_DURATION = re.compile(r"([1-9][0-9]{0,3})([hd])")
INPUT_COLUMNS = ("household", "zone", "household_type", "hour", "kwh")
_LOAD = sql.SQL("""
COPY (SELECT t.device_id, coalesce(d.zone, ''), coalesce(h.household_type, 'unknown'),
             extract(epoch FROM date_bin('1 hour', t.ts, TIMESTAMPTZ '2000-01-01 00:00+00'))::bigint,
             avg(t.value)
      FROM hub.telemetry t
      JOIN hub.devices d ON d.id = t.device_id AND d.kind = 'smart_meter'
      LEFT JOIN hub.households h ON h.device_id = t.device_id
      WHERE t.metric = 'power_kw' AND t.ts >= {start} AND t.ts < {end}
      GROUP BY t.device_id, d.zone, h.household_type, 4) TO STDOUT
""")


def load_meter_hours(conn: psycopg.Connection[tuple[Any, ...]], period: Period) -> pd.DataFrame:
    """Per household and hour: its zone, household type and energy (kWh = mean kW × 1 h)."""
    columns: list[list[Any]] = [[] for _ in INPUT_COLUMNS]
    with conn.cursor() as cur, cur.copy(_LOAD.format(start=sql.Literal(period.start),
                                                     end=sql.Literal(period.end))) as copy:
        copy.set_types(["text", "text", "text", "int8", "float8"])
        for row in copy.rows():
            for column, value in zip(columns, row, strict=True):
                column.append(value)
    frame = pd.DataFrame(dict(zip(INPUT_COLUMNS, columns, strict=True)))
    frame["hour"] = pd.to_datetime(frame["hour"].astype("int64"), unit="s", utc=True)
    frame["kwh"] = frame["kwh"].astype(float)
    return frame


def _rules(params: Mapping[str, object]) -> CellRules:
    try:
        buckets = params.get("buckets", ("1h", "3h", "6h", "1d", "7d"))
        if not isinstance(buckets, list | tuple):
            raise TypeError("buckets")
        rules = CellRules(
            min_households=int(str(params.get("min_households", 100))),
            max_share=float(str(params.get("max_share", 0.15))),
            buckets=tuple(_duration(str(b)) for b in buckets),
            enforce=bool(params.get("enforce_rules", True)))
    except (TypeError, ValueError) as exc:
        raise BadReleaseParams(f"Meter release parameters are wrong ({exc}): min_households is a whole "
                               "number, max_share a share, buckets a list like [1h, 3h, 1d].") from None
    if rules.min_households < 1 or not 0 < rules.max_share <= 1 or not rules.buckets:
        raise BadReleaseParams("min_households must be >= 1, max_share in (0, 1], buckets not empty.")
    b = rules.buckets
    if b[0] < pd.Timedelta(hours=1) or any(long % short or long <= short
                                           for short, long in itertools.pairwise(b)):
        raise BadReleaseParams("buckets must start at 1h or more, each a multiple of the one before.")
    return rules


def _duration(text: str) -> pd.Timedelta:
    """``1h``, ``3h``, ``1d``, ``7d``."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"bucket {text!r} is not like 1h or 1d")
    hours = int(match[1]) * (24 if match[2] == "d" else 1)
    return pd.Timedelta(hours=hours)


@dataclass(frozen=True, slots=True)
class MeterLoad:
    """Energy per zone group, time bucket and household type."""

    dataset: str = "meter_load"

    @property
    def defaults(self) -> Mapping[str, object]:
        return {"min_households": 100, "max_share": 0.15, "buckets": ["1h", "3h", "6h", "1d", "7d"]}

    def load(self, conn: psycopg.Connection[tuple[object, ...]], period: Period) -> pd.DataFrame:
        return load_meter_hours(conn, period)

    def release(self, data: pd.DataFrame, params: Mapping[str, object]) -> Released:
        rules = _rules(params)
        result = build_cells(data, rules)
        success = nearest_curve_success(result.household_curves, result.group_of, result.group_curves,
                                        result.group_sizes)
        table = result.table
        measures: dict[str, Measure] = {
            "households": int(data["household"].nunique()),
            "cells": len(table),
            "cells_suppressed": result.cells_suppressed,
            "household_hours_suppressed": result.rows_suppressed,
            "k": int(table["households"].min()) if len(table) else 0,
            "max_share": round(float(result.max_share), 4),
            "zone_groups_merged": result.groups_merged,
            "buckets": ", ".join(f"{h}h: {n}" for h, n in sorted(
                table.groupby("bucket_hours").size().items())),
            "utility_mae_kwh": round(result.mae, 4),
            "epsilon_spent": 0.0,
        }
        notes = () if rules.enforce else ("the 100-household and 15 % rules were disabled (test only)",)
        return Released(table=table, measures=measures, linkage_success=round(success, 6), notes=notes)
