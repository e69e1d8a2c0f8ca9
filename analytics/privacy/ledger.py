"""The epsilon ledger: each dataset's differential-privacy budget and what spent it.

Tables ``hub.epsilon_budgets`` (one total per dataset) and ``hub.epsilon_spends``
(append-only), migration 0014. :func:`spend` runs in the caller's transaction (the
release framework writes the release and its spend together): it locks the dataset's
budget row, so a second spender waits until the first commits or rolls back and then
sees its spend; a spend that would overspend is refused with the remaining budget.

Errors (below :class:`analytics.privacy.errors.ReleaseRefused`)::

    ReleaseRefused
     └── BudgetExceeded   the spend would overspend; the message names what remains
          └── NoBudget    no budget is set for the dataset (so nothing remains)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from psycopg import sql

from analytics.privacy.errors import BadReleaseParams, ReleaseRefused

log = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[Any, ...]]
_DATASET = re.compile(r"[a-z][a-z0-9_]{0,40}")  # as hub.epsilon_budgets checks


class BudgetExceeded(ReleaseRefused):
    """A spend would take a dataset past its epsilon budget."""

    def __init__(self, message: str, *, dataset: str, remaining: float) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.remaining = remaining


class NoBudget(BudgetExceeded):
    """The dataset has no budget: differential privacy cannot be spent on it."""


@dataclass(frozen=True, slots=True)
class Spend:
    dataset: str
    epsilon: float
    purpose: str
    spent_by: str
    spent_at: datetime


@dataclass(frozen=True, slots=True)
class Budget:
    dataset: str
    total: float
    spent: float
    set_by: str
    updated_at: datetime

    @property
    def remaining(self) -> float:
        return max(0.0, self.total - self.spent)


_LOCK = sql.SQL("SELECT total FROM hub.epsilon_budgets WHERE dataset = %s FOR UPDATE")
_SPENT = sql.SQL("SELECT coalesce(sum(epsilon), 0) FROM hub.epsilon_spends WHERE dataset = %s")
_APPEND = sql.SQL(
    "INSERT INTO hub.epsilon_spends (dataset, epsilon, purpose, spent_by) "
    "VALUES (%s, %s, %s, coalesce(%s, current_user))"
)


def _decimal(value: float, what: str) -> Decimal:
    # Through str: 0.1 is the user's 0.1, not the binary float's 0.1000000000000000055…
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadReleaseParams(f"{what} must be a number, not {value!r}.") from None
    if not number.is_finite() or number < 0:
        raise BadReleaseParams(f"{what} must be a finite number of 0 or more, not {value!r}.")
    return number


def _no_budget(dataset: str) -> NoBudget:
    return NoBudget(
        f"Dataset {dataset!r} has no epsilon budget, so 0 remains; an administrator sets one "
        f"with `cityhub privacy budget {dataset} EPSILON`.",
        dataset=dataset, remaining=0.0,
    )


def spend(conn: Conn, dataset: str, epsilon: float, purpose: str, *, by: str | None = None) -> float:
    """Record a spend of *epsilon* on *dataset* for *purpose* and return what remains.

    Raises :class:`BudgetExceeded` (nothing recorded) if it would overspend. *by* names
    who spends (a person or service); the database role when not given.
    """
    amount = _decimal(epsilon, "epsilon")
    if amount == 0:
        raise BadReleaseParams("A spend of epsilon must be more than 0.")
    if not purpose.strip():
        raise BadReleaseParams("A spend of epsilon needs a purpose (what it releases, for whom).")
    with conn.transaction():
        row = conn.execute(_LOCK, (dataset,)).fetchone()
        if row is None:
            raise _no_budget(dataset)
        total = Decimal(row[0])
        spent_row = conn.execute(_SPENT, (dataset,)).fetchone()
        spent = Decimal(spent_row[0]) if spent_row is not None else Decimal(0)
        left = total - spent
        if amount > left:
            remaining = float(max(left, Decimal(0)))
            raise BudgetExceeded(
                f"Spending epsilon {amount} on {dataset!r} would overspend its budget: "
                f"{remaining:g} of {float(total):g} remains.",
                dataset=dataset, remaining=remaining,
            )
        conn.execute(_APPEND, (dataset, amount, purpose, by))
    log.info("spent epsilon %s on %s; %s remains", amount, dataset, left - amount)
    return float(left - amount)


def remaining(conn: Conn, dataset: str) -> float:
    """The budget left on *dataset*; 0 when none is set."""
    found = budget(conn, dataset)
    return 0.0 if found is None else found.remaining


def budget(conn: Conn, dataset: str) -> Budget | None:
    row = conn.execute(
        sql.SQL("SELECT b.dataset, b.total, ({}), b.set_by, b.updated_at "
                "FROM hub.epsilon_budgets b WHERE b.dataset = %s").format(
            sql.SQL("SELECT coalesce(sum(s.epsilon), 0) FROM hub.epsilon_spends s "
                    "WHERE s.dataset = b.dataset")),
        (dataset,),
    ).fetchone()
    if row is None:
        return None
    return Budget(str(row[0]), float(row[1]), float(row[2]), str(row[3]), row[4])


def set_budget(conn: Conn, dataset: str, total: float, *, by: str | None = None) -> Budget:
    """Set *dataset*'s total budget; never below what it has spent already."""
    if _DATASET.fullmatch(dataset) is None:
        raise BadReleaseParams(
            f"{dataset!r} is not a dataset name: lower-case letters, digits and '_', "
            "starting with a letter, at most 41 characters."
        )
    amount = _decimal(total, "The budget")
    with conn.transaction():
        conn.execute(
            sql.SQL("INSERT INTO hub.epsilon_budgets AS b (dataset, total, set_by) "
                    "VALUES (%s, %s, coalesce(%s, current_user)) ON CONFLICT (dataset) DO NOTHING"),
            (dataset, amount, by),
        )
        conn.execute(_LOCK, (dataset,))
        spent_row = conn.execute(_SPENT, (dataset,)).fetchone()
        spent = Decimal(spent_row[0]) if spent_row is not None else Decimal(0)
        if amount < spent:
            raise BadReleaseParams(
                f"Dataset {dataset!r} has spent epsilon {float(spent):g} already; spent privacy "
                f"cannot be given back, so its budget can be {float(spent):g} or more."
            )
        conn.execute(
            sql.SQL("UPDATE hub.epsilon_budgets SET total = %s, set_by = coalesce(%s, current_user), "
                    "updated_at = now() WHERE dataset = %s"),
            (amount, by, dataset),
        )
    found = budget(conn, dataset)
    assert found is not None
    return found


def spends(conn: Conn, dataset: str) -> Sequence[Spend]:
    """The dataset's spends, oldest first."""
    rows = conn.execute(
        sql.SQL("SELECT dataset, epsilon, purpose, spent_by, spent_at FROM hub.epsilon_spends "
                "WHERE dataset = %s ORDER BY spent_at, id"),
        (dataset,),
    ).fetchall()
    return tuple(Spend(str(r[0]), float(r[1]), str(r[2]), str(r[3]), r[4]) for r in rows)
