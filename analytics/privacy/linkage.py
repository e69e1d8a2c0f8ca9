"""Automated linkage attacks run on every release before it is published. Pure.

Meter aggregates — nearest-neighbour matching. The attacker knows one household's true
hourly load curve (a smart plug, a neighbour's observation) and looks for it among the
published cell curves (each cell's energy per household and hour, over the cells of one
zone group and household type). The household's curve is matched to the nearest
published curve (mean squared difference over the hours that curve publishes). When
the match is the household's own group, the attacker still has to single it out among
the group's n households: the household counts as re-identified with probability 1/n.
Success = the mean of that probability over all households (0 when its group was
suppressed). With cells of at least 100 households it cannot exceed 1 %; a cell made of
one household re-identifies it whenever its curve is nearest to its own.

Household-level tables — uniqueness: the share of published records whose combination
of quasi-identifiers no other record has.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def nearest_curve_success(curves: pd.DataFrame, own_group: pd.Series, published: pd.DataFrame,
                          group_sizes: pd.Series) -> float:
    """*curves*: household × hour (kWh); *own_group*: household → group;
    *published*: group × hour (kWh per household, NaN where not published);
    *group_sizes*: group → households."""
    if curves.empty or published.empty:
        return 0.0
    published = published.reindex(columns=curves.columns)
    households = curves.to_numpy(dtype=float, na_value=0.0)
    mask = (~published.isna()).to_numpy(dtype=float)
    values = published.fillna(0.0).to_numpy(dtype=float)
    hours = mask.sum(axis=1)
    usable = hours > 0
    if not usable.any():
        return 0.0
    mask, values, hours = mask[usable], values[usable], hours[usable]
    groups = published.index[usable]
    # Σ m (h − s)² = Σ m h² − 2 Σ h s + Σ s²   (s is 0 where m is 0)
    dist = (households**2) @ mask.T - 2.0 * households @ values.T + (values**2).sum(axis=1)
    dist /= hours
    nearest = groups[np.argmin(dist, axis=1)]
    own = own_group.reindex(curves.index).to_numpy()
    hit = nearest.to_numpy() == own
    sizes = group_sizes.reindex(nearest).to_numpy(dtype=float)
    return float(np.where(hit, 1.0 / np.maximum(sizes, 1.0), 0.0).mean())


def uniqueness(table: pd.DataFrame, quasi_identifiers: Sequence[str]) -> float:
    """The share of rows unique on *quasi_identifiers* (0 for an empty table)."""
    if table.empty or not quasi_identifiers:
        return 0.0
    sizes = table.groupby(list(quasi_identifiers), dropna=False).size()
    return float((sizes == 1).sum() / len(table))
