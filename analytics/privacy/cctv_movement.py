"""``cctv_movement``: how many tracks moved from one zone to another, per hour.

A transition is two successive detections of the same subject (a track's or plate's
pseudonym) in different zones on the same UTC day; its hour is the hour of arrival.
Tracks are pseudonymised under a day key, so a subject never spans days anyway, and
the day is cut here as well. A cell (hour, from_zone, to_zone) counts the distinct
subjects that made that move in that hour; cells below ``min_tracks`` (at least 5) are
suppressed and counted. No subject, track or time finer than the hour is published.

With ``epsilon`` > 0 the counts are also differentially private: each subject keeps its
first ``max_cells_per_subject`` cells (one count each), OpenDP adds discrete Laplace
noise over every cell of the public grid, and the threshold is applied to the noisy
counts (post-processing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import psycopg

from analytics.privacy.cctv_input import grid, load_events, number, uniqueness
from analytics.privacy.dp import laplace_counts
from analytics.privacy.method import Period, Released

Conn = psycopg.Connection[tuple[Any, ...]]
MIN_TRACKS = 5  # DESIGN.md: never fewer than 5 in a published movement cell
_CELL = ["hour", "from_zone", "to_zone"]


def transitions(data: pd.DataFrame) -> pd.DataFrame:
    """One row per (subject, hour, from_zone, to_zone) move, each subject once per cell."""
    seen = data.loc[data["subject"].notna(), ["ts", "zone", "subject"]].sort_values(
        ["subject", "ts"], kind="stable")
    seen = seen.assign(day=seen["ts"].dt.floor("D"))
    before = seen.groupby(["subject", "day"], sort=False)["zone"].shift(1)
    moved = seen.assign(from_zone=before)
    moved = moved[moved["from_zone"].notna() & (moved["from_zone"] != moved["zone"])]
    moved = moved.assign(hour=moved["ts"].dt.floor("h")).rename(columns={"zone": "to_zone"})
    return moved[["subject", *_CELL]].drop_duplicates()


class Movement:
    """Zone-to-zone movement counts per hour, at least 5 tracks in every published cell."""

    dataset = "cctv_movement"
    defaults: Mapping[str, object] = {"min_tracks": MIN_TRACKS, "epsilon": 0.0,
                                      "max_cells_per_subject": 4}

    def load(self, conn: Conn, period: Period) -> pd.DataFrame:
        return load_events(conn, period)

    def release(self, data: pd.DataFrame, params: Mapping[str, object]) -> Released:
        merged = {**self.defaults, **params}
        min_tracks = int(number(merged, "min_tracks", low=MIN_TRACKS, integer=True))
        epsilon = number(merged, "epsilon", low=0.0)
        moves = transitions(data)
        true = moves.groupby(_CELL).size().rename("tracks")
        measures: dict[str, float | int | str] = {"min_tracks": min_tracks,
                                                  "transitions": int(true.sum())}
        if epsilon > 0:
            counts, extra = self._noisy(data, moves, true, merged, epsilon)
            measures |= extra
        else:
            counts = true
        published = counts[counts >= min_tracks]
        # Cells the data had (true count > 0) that are not published.
        hidden = true[~true.index.isin(published.index)]
        table = published.reset_index().sort_values(_CELL, kind="stable").reset_index(drop=True)
        table["tracks"] = table["tracks"].astype("int64")
        measures |= {
            "cells_published": len(table), "cells_suppressed": len(hidden),
            "transitions_suppressed": int(hidden.sum()),
            "k": int(table["tracks"].min()) if len(table) else min_tracks,
        }
        return Released(
            table=table[[*_CELL, "tracks"]], measures=measures,
            linkage_success=uniqueness(table, "tracks"), epsilon=epsilon,
            notes=(f"Cells with fewer than {min_tracks} tracks are suppressed.",),
        )

    def _noisy(self, data: pd.DataFrame, moves: pd.DataFrame, true: pd.Series[int],
               params: Mapping[str, object], epsilon: float
               ) -> tuple[pd.Series[int], dict[str, float | int | str]]:
        cells = int(number(params, "max_cells_per_subject", low=1, integer=True))
        zones = grid(data, "zones")
        pairs = [(a, b) for a in zones for b in zones if a != b]
        cube = pd.MultiIndex.from_tuples(
            [(h, a, b) for h in grid(data, "hours") for a, b in pairs], names=_CELL)
        index = cube.get_indexer(pd.MultiIndex.from_frame(moves[_CELL]))
        moves = moves.assign(cell=index)[index >= 0]
        kept = moves[moves.groupby("subject", sort=False).cumcount() < cells]
        noisy = laplace_counts([str(c) for c in kept["cell"]], [str(i) for i in range(len(cube))],
                               max_contributions=cells, epsilon=epsilon)
        counts = pd.Series(noisy.counts, index=cube, name="tracks").clip(lower=0)
        full_true = true.reindex(cube, fill_value=0)
        shown = counts.where(counts >= int(number(params, "min_tracks", low=MIN_TRACKS)), 0)
        return counts, {
            "epsilon_spent": noisy.epsilon, "noise_scale": noisy.scale,
            "sensitivity": noisy.sensitivity, "accuracy_95": noisy.accuracy,
            "utility_mae": float((shown - full_true).abs().mean()) if len(cube) else 0.0,
            "transitions_dropped_by_bound": int(len(moves) - len(kept)),
        }
