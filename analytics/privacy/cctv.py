"""CCTV releases: differentially private event counts, and movement between zones.

``cctv_event_counts_dp`` counts the CCTV events of every zone, hour and event type
with OpenDP's discrete Laplace noise (:mod:`analytics.privacy.dp`). The unit of privacy
is one subject, a plate's or a track's pseudonym (a track's is one person on one UTC
day, as track ids are pseudonymised under a day key); an event without one counts as
its own subject. Before counting, each subject is bounded to ``max_events_per_cell``
events in any one cell and to its first ``max_cells_per_subject`` cells, so one
subject changes at most ``max_events_per_cell × max_cells_per_subject`` counts by one:
that is the L1 sensitivity the noise is scaled to. Negative noisy counts are shown as
0 (post-processing, free). Every cell of the public grid is published, zeros too.

``cctv_movement`` lives in :mod:`analytics.privacy.cctv_movement`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import psycopg

from analytics.privacy.cctv_input import grid, load_events, number, uniqueness
from analytics.privacy.cctv_movement import Movement
from analytics.privacy.dp import laplace_counts
from analytics.privacy.method import Period, Released, ReleaseMethod

Conn = psycopg.Connection[tuple[Any, ...]]


def bound_contributions(frame: pd.DataFrame, *, who: str, cell: str, per_cell: int,
                        cells: int) -> pd.DataFrame:
    """The rows of *frame* (in time order) that remain when each *who* keeps at most
    *per_cell* rows in any *cell* and only its first *cells* cells."""
    kept = frame[frame.groupby([who, cell], sort=False).cumcount() < per_cell]
    firsts = kept.drop_duplicates([who, cell])
    allowed = firsts.loc[firsts.groupby(who, sort=False).cumcount() < cells, [who, cell]]
    return kept.merge(allowed, on=[who, cell], how="inner")


class EventCountsDP:
    """CCTV events per zone, hour and type, with epsilon-differential privacy."""

    dataset = "cctv_event_counts_dp"
    defaults: Mapping[str, object] = {
        "epsilon": 1.0, "max_events_per_cell": 2, "max_cells_per_subject": 4,
    }

    def load(self, conn: Conn, period: Period) -> pd.DataFrame:
        return load_events(conn, period)

    def release(self, data: pd.DataFrame, params: Mapping[str, object]) -> Released:
        merged = {**self.defaults, **params}
        epsilon = number(merged, "epsilon", low=1e-6)
        per_cell = int(number(merged, "max_events_per_cell", low=1, integer=True))
        cells = int(number(merged, "max_cells_per_subject", low=1, integer=True))
        cube = pd.MultiIndex.from_product(
            [grid(data, "hours"), grid(data, "zones"), grid(data, "types")],
            names=["hour", "zone", "type"])
        events = data.sort_values("ts", kind="stable").reset_index(drop=True)
        events["cell"] = cube.get_indexer(pd.MultiIndex.from_arrays(
            [events["ts"].dt.floor("h"), events["zone"], events["type"]]))
        events = events[events["cell"] >= 0]
        # An event without a plate or track stands for itself: its own subject.
        events["who"] = events["subject"].where(events["subject"].notna(),
                                                "event:" + events.index.astype(str))
        bounded = bound_contributions(events, who="who", cell="cell", per_cell=per_cell, cells=cells)
        noisy = laplace_counts([str(c) for c in bounded["cell"]], [str(i) for i in range(len(cube))],
                               max_contributions=per_cell * cells, epsilon=epsilon)
        true = events["cell"].value_counts().reindex(range(len(cube)), fill_value=0).to_numpy()
        kept = bounded["cell"].value_counts().reindex(range(len(cube)), fill_value=0).to_numpy()
        raw = pd.Series(noisy.counts, dtype="int64")
        shown = raw.clip(lower=0)
        table = cube.to_frame(index=False)
        table["count"] = shown.to_numpy()
        mae = float(abs(shown.to_numpy() - true).mean()) if len(cube) else 0.0
        measures: dict[str, float | int | str] = {
            "mechanism": "discrete Laplace, OpenDP count_by_categories >> laplace",
            "epsilon_spent": noisy.epsilon, "noise_scale": noisy.scale,
            "sensitivity": noisy.sensitivity, "accuracy_95": noisy.accuracy,
            "utility_mae": mae,
            "utility_mae_bounding": float(abs(kept - true).mean()) if len(cube) else 0.0,
            "events_true": int(true.sum()),
            # What the noise hides: events alone in their cell before it was added.
            "events_unique_before_noise": int((true == 1).sum()),
            "events_dropped_by_bound": int(true.sum() - kept.sum()),
            "events_released": int(shown.sum()), "cells": len(cube),
            "cells_negative_clamped": int((raw < 0).sum()), "cells_suppressed": 0,
            "max_events_per_cell": per_cell, "max_cells_per_subject": cells,
        }
        return Released(
            table=table, measures=measures, linkage_success=uniqueness(table, "count"),
            epsilon=epsilon,
            notes=(f"Counts carry discrete Laplace noise of scale {noisy.scale:.3g}: each is within "
                   f"±{noisy.accuracy:.3g} of the bounded true count with 95 % probability.",
                   "Negative noisy counts are shown as 0.",
                   "The unit of privacy is one plate or track pseudonym (a person on one day)."),
        )


CCTV_METHODS: tuple[ReleaseMethod, ...] = (EventCountsDP(), Movement())
