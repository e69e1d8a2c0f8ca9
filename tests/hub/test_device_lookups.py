"""hub/device_lookups.py: broker logins waiting together share one query, and get their own rows."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from hub.catalogue import Catalogue
from hub.device_lookups import DeviceLookups, DeviceRow
from hub.errors import DatabaseUnavailable
from hub.registry import add_device, revoke_device, rotate_token
from tests.helpers import Conn

pytestmark = pytest.mark.integration


def _pool(database_url: str) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
    return AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False,
                               kwargs={"autocommit": True})


def _token_hash(db: Conn, device_id: str) -> str:
    row = db.execute("SELECT token_hash FROM hub.devices WHERE id = %s", (device_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_logins_asking_at_once_share_one_query_and_each_gets_its_row(
    database_url: str, db: Conn, catalogue: Catalogue,
) -> None:
    tag = secrets.token_hex(3)
    meter, gateway, gone = f"lk-meter-{tag}", f"lk-gw-{tag}", f"lk-gone-{tag}"
    add_device(db, catalogue, meter, "smart_meter")
    add_device(db, catalogue, gateway, "gateway")
    add_device(db, catalogue, gone, "air_quality")
    revoke_device(db, gone)
    asked = [meter, gateway, gone, f"lk-none-{tag}", "nul\x00id", "\ud800", meter] * 10

    async def storm() -> tuple[list[DeviceRow | None], int]:
        async with _pool(database_url) as pool:
            lookups = DeviceLookups(pool.connection)
            found = await asyncio.gather(*(lookups.find(i) for i in asked))
            return list(found), lookups.queries

    found, queries = asyncio.run(storm())
    assert queries == 1
    answers = dict(zip(asked, found, strict=True))
    assert answers[meter] == ("smart_meter", "active", _token_hash(db, meter))
    assert answers[gateway] == ("gateway", "active", _token_hash(db, gateway))
    revoked = answers[gone]
    assert revoked is not None
    assert revoked[1] == "revoked"
    # No such device, and ids no device can have: no row, and the shared query did not fail.
    assert answers[f"lk-none-{tag}"] is None
    assert answers["nul\x00id"] is None
    assert answers["\ud800"] is None
    assert all(answers[i] == row for i, row in zip(asked, found, strict=True))


def test_every_look_up_reads_the_database_as_it_is_now(database_url: str, db: Conn,
                                                       catalogue: Catalogue) -> None:
    device_id = f"lk-now-{secrets.token_hex(3)}"
    add_device(db, catalogue, device_id, "air_quality")

    async def twice_around(change: Any) -> tuple[DeviceRow | None, DeviceRow | None]:
        async with _pool(database_url) as pool:
            lookups = DeviceLookups(pool.connection)
            before = await lookups.find(device_id)
            await asyncio.to_thread(change)
            return before, await lookups.find(device_id)

    before, after = asyncio.run(twice_around(lambda: rotate_token(db, device_id)))
    assert before is not None
    assert after is not None
    assert before[2] != after[2] == _token_hash(db, device_id)
    before, after = asyncio.run(twice_around(lambda: revoke_device(db, device_id)))
    assert before is not None
    assert before[1] == "active"
    assert after is not None
    assert after[1] == "revoked"


def test_a_database_that_cannot_be_reached_fails_each_waiting_login_then_recovers(
    database_url: str, db: Conn, catalogue: Catalogue,
) -> None:
    device_id = f"lk-down-{secrets.token_hex(3)}"
    add_device(db, catalogue, device_id, "air_quality")
    reachable = False

    async def run() -> tuple[list[BaseException | DeviceRow | None], DeviceRow | None]:
        async with _pool(database_url) as pool:

            @asynccontextmanager
            async def connect() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
                if not reachable:
                    raise psycopg.OperationalError("connection refused")
                async with pool.connection() as conn:
                    yield conn

            lookups = DeviceLookups(connect)
            failed = await asyncio.gather(*(lookups.find(device_id) for _ in range(5)),
                                          return_exceptions=True)
            nonlocal reachable
            reachable = True
            return list(failed), await lookups.find(device_id)

    failed, recovered = asyncio.run(run())
    assert all(isinstance(f, DatabaseUnavailable) for f in failed)
    assert len({id(f) for f in failed}) == 5  # each request raises its own
    assert "OperationalError" in str(failed[0])
    assert recovered is not None
    assert recovered[1] == "active"
