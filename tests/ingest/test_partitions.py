"""Batches COPYed straight into a telemetry partition (plain profile, migration 0007):
the rows land there, the rollup counts each once, redeliveries and batches that span
two partitions still work, and partitions ingest may not use directly are avoided."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from hub.catalogue import Catalogue
from ingest.messages import TelemetryRow
from ingest.partitions import Partition, partition_for, read_partitions
from ingest.pipeline import BatchPlan
from ingest.store import Store
from tests.helpers import Conn, count, new_device

DAY = datetime(2026, 12, 1, tzinfo=UTC)
PARTS = (Partition("telemetry_p20261130", DAY - timedelta(days=1), DAY),
         Partition("telemetry_p20261201", DAY, DAY + timedelta(days=1)))


def _row(ts: datetime) -> TelemetryRow:
    return (ts, "d", "pm10", 1.0)


def test_a_batch_goes_to_the_partition_holding_all_of_it_or_to_none() -> None:
    assert partition_for(PARTS, [_row(DAY), _row(DAY + timedelta(hours=23))]) == PARTS[1]
    assert partition_for(PARTS, [_row(DAY - timedelta(seconds=1))]) == PARTS[0]
    # Upper bounds are exclusive; a batch across midnight fits neither.
    assert partition_for(PARTS, [_row(DAY + timedelta(days=1))]) is None
    assert partition_for(PARTS, [_row(DAY - timedelta(seconds=1)), _row(DAY)]) is None
    assert partition_for((), [_row(DAY)]) is None


def _plan(device: str, times: list[datetime]) -> BatchPlan:
    plan = BatchPlan()
    plan.readings.extend((t, device, "pm10", float(i)) for i, t in enumerate(times))
    plan.accepted = len(times)
    return plan


def _where(db: Conn, device: str) -> dict[str, int]:
    """Rows of *device* by the partition that holds them."""
    return {str(t): int(n) for t, n in db.execute(  # type: ignore[call-overload]
        "SELECT tableoid::regclass::text, count(*) FROM hub.telemetry WHERE device_id = %s "
        "GROUP BY 1", (device,)).fetchall()}


def _rolled_up(db: Conn, device: str) -> int:
    return count(db, "SELECT coalesce(sum(n), 0)::int FROM hub.telemetry_1m WHERE device_id = %s",
                 device)


def _day_partition(ts: datetime) -> str:
    return f"hub.telemetry_p{ts:%Y%m%d}"


@contextmanager
def _store(url: str) -> Iterator[Store]:
    store = Store(url)
    try:
        yield store
    finally:
        store.close()


@pytest.mark.integration
def test_a_batch_of_one_day_goes_into_its_partition_and_is_counted_once(
    db: Conn, catalogue: Catalogue, database_url: str,
) -> None:
    device = new_device(db, catalogue, "air_quality")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    if start.hour == 23:
        start -= timedelta(hours=1)  # keep the batch inside one day
    times = [start + timedelta(seconds=i) for i in range(300)]
    with _store(database_url) as store:
        # With the parent's trigger off, only the partition's own can count the rows.
        db.execute("ALTER TABLE hub.telemetry DISABLE TRIGGER telemetry_rollup")
        try:
            store.write(_plan(device, times))
        finally:
            db.execute("ALTER TABLE hub.telemetry ENABLE TRIGGER telemetry_rollup")
        assert _where(db, device) == {_day_partition(start): 300}
        assert _rolled_up(db, device) == 300
        # A redelivery of the whole batch, plus one new reading: only that one is added.
        store.write(_plan(device, [*times, start + timedelta(seconds=400)]))
    assert _where(db, device) == {_day_partition(start): 301}
    assert _rolled_up(db, device) == 301


@pytest.mark.integration
def test_a_batch_across_midnight_goes_through_the_parent(
    db: Conn, catalogue: Catalogue, database_url: str,
) -> None:
    device = new_device(db, catalogue, "air_quality")
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    times = [midnight - timedelta(seconds=2), midnight + timedelta(seconds=2)]
    with _store(database_url) as store:
        store.write(_plan(device, times))
    assert _where(db, device) == {_day_partition(times[0]): 1, _day_partition(times[1]): 1}
    assert _rolled_up(db, device) == 2


@pytest.mark.integration
def test_a_partition_without_its_rollup_trigger_is_not_written_directly(
    db: Conn, catalogue: Catalogue, database_url: str,
) -> None:
    device = new_device(db, catalogue, "air_quality")
    yesterday = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) \
        - timedelta(days=1)
    partition = sql.Identifier("hub", f"telemetry_p{yesterday:%Y%m%d}")
    db.execute(sql.SQL("DROP TRIGGER telemetry_rollup_direct ON {}").format(partition))
    try:
        with _store(database_url) as store:
            store.write(_plan(device, [yesterday, yesterday + timedelta(seconds=1)]))
        # Through the parent, whose trigger counted the rows.
        assert _rolled_up(db, device) == 2
    finally:
        db.execute(sql.SQL("SELECT hub.prepare_telemetry_partition({}::regclass)").format(
            sql.Literal(f"hub.telemetry_p{yesterday:%Y%m%d}")))


@pytest.mark.integration
def test_a_login_in_the_ingest_role_writes_into_partitions(
    db: Conn, catalogue: Catalogue, database_url: str,
) -> None:
    device = new_device(db, catalogue, "air_quality")
    login = f"cityhub_test_ingest_{secrets.token_hex(4)}"
    db.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE cityhub_ingest").format(sql.Identifier(login)))
    try:
        parts = urlsplit(database_url)
        url = urlunsplit(parts._replace(netloc=f"{login}@{parts.hostname}:{parts.port}"))
        ts = datetime.now(UTC) - timedelta(minutes=1)
        with psycopg.connect(url) as conn:
            # The partitions are granted to the role, so this login may use them directly.
            usable = {f"hub.{p.name}" for p in read_partitions(conn)}
        assert _day_partition(ts) in usable
        with _store(url) as store:
            store.write(_plan(device, [ts]))
        assert _where(db, device) == {_day_partition(ts): 1}
        assert _rolled_up(db, device) == 1
    finally:
        db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(login)))
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))
