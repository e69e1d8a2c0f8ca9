"""The contract between the release framework and the release methods.

A method knows one dataset of the catalogue: how to load its input from the
pseudonymised zone for a period (I/O, ``load``), and how to turn that input into the
rows to publish with the measures of their privacy and utility (pure, ``release``).
The framework records the release, spends its epsilon, runs nothing of the method's
twice, and refuses a release whose linkage attack succeeds above the threshold in its
parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pandas as pd
import psycopg

Measure = float | int | str


@dataclass(frozen=True, slots=True)
class Period:
    """The input range of a release: [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Released:
    """What a method made of its input."""

    table: pd.DataFrame  # exactly the rows and columns published in the open schema
    # Reported with the release and shown in the catalogue: k, l, cells_suppressed,
    # rows_suppressed, generalisation, epsilon_spent, utility_mae … (what applies).
    measures: Mapping[str, Measure]
    # The method's automated linkage attack on this table: the share of people or
    # households it re-identified (meters), or of records unique on their
    # quasi-identifiers (events); 0 … 1.
    linkage_success: float
    epsilon: float = 0.0  # the budget this release spends (differential privacy), else 0
    quasi_identifiers: tuple[str, ...] = ()  # columns an independent check verifies k on
    sensitive: tuple[str, ...] = ()  # columns an independent check verifies l on
    notes: tuple[str, ...] = field(default_factory=tuple)


class ReleaseMethod(Protocol):
    """One releasable dataset."""

    @property
    def dataset(self) -> str:
        """The dataset's name in the catalogue and the prefix of its open-schema tables."""
        ...

    @property
    def defaults(self) -> Mapping[str, object]:
        """Parameters used where a params file says nothing (k, l, min households …)."""
        ...

    def load(self, conn: psycopg.Connection[tuple[object, ...]], period: Period) -> pd.DataFrame:
        """The input, read from the pseudonymised zone."""
        ...

    def release(self, data: pd.DataFrame, params: Mapping[str, object]) -> Released:
        """The rows to publish. Pure; randomness only through the DP library."""
        ...
