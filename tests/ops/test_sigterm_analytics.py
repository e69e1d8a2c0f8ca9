"""SIGTERM drains the analytics service: the batch it evaluates is finished and its position
stored before it exits with 0."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from hub.notify import TELEMETRY, encode_range
from tests.helpers import Conn
from tests.ops.service_process import ServiceProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def _position(db: Conn) -> object:
    row = db.execute("SELECT position FROM hub.analytics_positions WHERE stream = 'telemetry'"
                     ).fetchone()
    return None if row is None else row[0]


def _blocked(db: Conn) -> bool:
    row = db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                     "'cityhub-analytics' AND wait_event_type = 'Lock'").fetchone()
    return row is not None and row[0] == 1


def test_sigterm_mid_batch_finishes_it_stores_the_position_and_exits_0(
    db: Conn, database_url: str, tmp_path: Path,
) -> None:
    service = ServiceProcess(["analytics"], {"CITYHUB_DATABASE_URL": database_url},
                             tmp_path / "analytics.log")
    try:
        service.wait_logged("analytics ready")
        wait_for(lambda: _position(db) is not None, what="the position stored by the catch-up")
        # Hold the position's row, so the service is caught in the middle of a batch: it has
        # read and evaluated the notified range and waits to store how far it got.
        with psycopg.connect(database_url) as holder:
            holder.execute("SELECT 1 FROM hub.analytics_positions WHERE stream = 'telemetry' "
                           "FOR UPDATE")
            now = holder.execute("SELECT now()").fetchone()
            assert now is not None
            end = now[0]
            db.execute("SELECT pg_notify(%s, %s)",
                       (TELEMETRY, encode_range(end - timedelta(minutes=1), end, ["ops-aq-1"])))
            wait_for(lambda: _blocked(db), what="analytics to wait on the held row")
            service.terminate()
            assert _blocked(db)  # asked to stop, it still holds its batch
        assert service.wait(30) == 0, service.text()[-3000:]
        assert _position(db) == end  # the batch's end was stored before exiting
        assert service.logged("analytics stopped")
    finally:
        service.kill()
