"""The epsilon ledger: spends add up exactly, overspending is refused with what remains,
two concurrent spenders cannot overspend together, and spends cannot be undone."""

from __future__ import annotations

import json
import secrets
import threading

import psycopg
import pytest
from typer.testing import CliRunner

from analytics.privacy import ledger
from analytics.privacy.errors import BadReleaseParams, ReleaseRefused
from analytics.privacy.ledger import BudgetExceeded, NoBudget
from tests.helpers import Conn
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def new_dataset(db: Conn, total: float | None) -> str:
    name = f"test_{secrets.token_hex(4)}"
    if total is not None:
        ledger.set_budget(db, name, total)
    return name


def test_a_spend_that_would_overspend_is_refused_naming_the_remaining_budget(db: Conn) -> None:
    dataset = new_dataset(db, 1.0)
    assert ledger.spend(db, dataset, 0.7, "release v1 for the traffic study") == pytest.approx(0.3)
    with pytest.raises(BudgetExceeded, match=r"0\.3 of 1 remains") as refused:
        ledger.spend(db, dataset, 0.5, "release v2 for the traffic study")
    assert refused.value.remaining == pytest.approx(0.3)
    assert isinstance(refused.value, ReleaseRefused)  # the framework's refusal, 409 over HTTP
    # Nothing of the refused spend was recorded; what remains can still be spent, exactly.
    assert [s.epsilon for s in ledger.spends(db, dataset)] == [0.7]
    assert ledger.spend(db, dataset, 0.3, "release v2, smaller") == 0.0
    assert ledger.remaining(db, dataset) == 0.0


def test_ten_spends_of_a_tenth_use_a_budget_of_one_exactly(db: Conn) -> None:
    dataset = new_dataset(db, 1.0)
    for i in range(10):
        ledger.spend(db, dataset, 0.1, f"query {i}")
    assert ledger.remaining(db, dataset) == 0.0
    with pytest.raises(BudgetExceeded, match="0 of 1 remains"):
        ledger.spend(db, dataset, 0.1, "one query too many")
    budget = ledger.budget(db, dataset)
    assert budget is not None
    assert budget.spent == 1.0


def test_a_dataset_without_a_budget_spends_nothing(db: Conn) -> None:
    dataset = new_dataset(db, None)
    with pytest.raises(NoBudget, match=f"cityhub privacy budget {dataset} EPSILON"):
        ledger.spend(db, dataset, 0.1, "a first release")
    assert ledger.remaining(db, dataset) == 0.0


def test_the_cctv_counts_ship_with_a_budget(db: Conn) -> None:
    assert ledger.remaining(db, "cctv_event_counts_dp") > 0


def test_a_spend_rolls_back_with_the_release_that_made_it(db: Conn) -> None:
    dataset = new_dataset(db, 1.0)

    def failing_release() -> None:
        with db.transaction():
            ledger.spend(db, dataset, 0.4, "a release whose table failed to write")
            raise RuntimeError("the release failed after spending")

    with pytest.raises(RuntimeError):
        failing_release()
    assert ledger.remaining(db, dataset) == 1.0


def test_two_concurrent_spenders_cannot_overspend(db: Conn, database_url: str) -> None:
    dataset = new_dataset(db, 1.0)
    outcome: list[BaseException | float] = []

    def second() -> None:
        with psycopg.connect(database_url, application_name=f"spender-{dataset}") as conn:
            try:
                outcome.append(ledger.spend(conn, dataset, 0.6, "second release"))
            except BudgetExceeded as exc:
                outcome.append(exc)

    with psycopg.connect(database_url) as first, first.transaction():
        assert ledger.spend(first, dataset, 0.6, "first release") == pytest.approx(0.4)
        # The first release's transaction is still open: the second must wait for its lock.
        thread = threading.Thread(target=second)
        thread.start()
        wait_for(lambda: db.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (f"spender-{dataset}",)).fetchone(), what="the second spender to wait for the budget row")
    thread.join(timeout=20)
    assert len(outcome) == 1
    assert isinstance(outcome[0], BudgetExceeded), outcome
    assert "0.4 of 1 remains" in str(outcome[0])
    assert [s.purpose for s in ledger.spends(db, dataset)] == ["first release"]


def test_spends_are_append_only(db: Conn) -> None:
    dataset = new_dataset(db, 1.0)
    ledger.spend(db, dataset, 0.5, "a release")
    for statement in ("UPDATE hub.epsilon_spends SET epsilon = 0.01 WHERE dataset = %s",
                      "DELETE FROM hub.epsilon_spends WHERE dataset = %s"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            db.execute(statement, (dataset,))
    assert ledger.remaining(db, dataset) == 0.5


def test_a_budget_cannot_be_set_below_what_was_spent(db: Conn) -> None:
    dataset = new_dataset(db, 2.0)
    ledger.spend(db, dataset, 1.5, "a release")
    with pytest.raises(BadReleaseParams, match=r"can be 1\.5 or more"):
        ledger.set_budget(db, dataset, 1.0)
    assert ledger.set_budget(db, dataset, 1.5).remaining == 0.0


def test_the_console_role_can_spend_but_not_raise_a_budget(database_url: str, db: Conn) -> None:
    dataset = new_dataset(db, 1.0)
    with psycopg.connect(database_url) as conn:
        conn.execute("SET ROLE cityhub_console")
        assert ledger.spend(conn, dataset, 0.25, "a release over the admin API") == 0.75
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE hub.epsilon_budgets SET total = 100 WHERE dataset = %s", (dataset,))


def test_the_budget_command_sets_and_shows_a_budget(database_url: str, db: Conn) -> None:
    from analytics.privacy.cli import app

    dataset = new_dataset(db, None)
    env = {"CITYHUB_DATABASE_URL": database_url}
    result = CliRunner().invoke(app, ["budget", dataset, "3"], env=env)
    assert result.exit_code == 0, result.output
    assert f"{dataset}: epsilon 3 remains of 3" in result.output
    ledger.spend(db, dataset, 1.25, "release v1 for the mobility study")
    result = CliRunner().invoke(app, ["budget", dataset, "--json"], env=env)
    shown = json.loads(result.output)
    assert (shown["total"], shown["spent"], shown["remaining"]) == (3.0, 1.25, 1.75)
    assert [s["purpose"] for s in shown["spends"]] == ["release v1 for the mobility study"]
    row = db.execute("SELECT details FROM hub.audit_log WHERE action = 'privacy.budget_set' "
                     "AND target = %s", (dataset,)).fetchone()
    assert row is not None
    assert isinstance(row[0], dict)
    assert row[0]["total"] == 3.0
