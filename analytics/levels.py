"""Levels with a duration and hysteresis: the one state machine behind every measured rule. Pure.

A level is raised once the measured quantity has stayed at or above ``above`` for ``for_s``
seconds, and lifted once it has stayed below ``clear_below`` for ``clear_for_s``. Lifting a
higher level steps down to the highest lower level whose own lifting point the quantity is
still at or above (the Korean fine-dust warning "lifted into an advisory"), else to none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from analytics.spec import Level


@dataclass(frozen=True, slots=True)
class LevelState:
    active: int | None = None  # index into the rule's levels
    above_since: tuple[datetime | None, ...] = ()
    below_since: datetime | None = None


def step(state: LevelState, levels: Sequence[Level], t: datetime, q: float) -> LevelState:
    """The state after the quantity *q* was measured at *t* (times never go back)."""
    previous = state.above_since or (None,) * len(levels)
    above = tuple((since or t) if q >= lv.above else None
                  for since, lv in zip(previous, levels, strict=True))
    held = [i for i, lv in enumerate(levels)
            if above[i] is not None and (t - above[i]).total_seconds() >= lv.for_s]  # type: ignore[operator]
    target = max(held, default=None)
    active, below = state.active, state.below_since
    if target is not None and (active is None or target > active):
        return LevelState(target, above, None)
    if active is None:
        return LevelState(None, above, None)
    level = levels[active]
    if q >= level.clear_below:
        return LevelState(active, above, None)
    below = below or t
    if (t - below).total_seconds() < level.clear_for_s:
        return LevelState(active, above, below)
    lower = [j for j in range(active) if q >= levels[j].clear_below]
    return LevelState(max(lower) if lower else None, above, None)
