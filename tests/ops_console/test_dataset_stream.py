"""Streaming rows: a client that leaves mid-stream leaves no query or slot behind; a
reader connection is kept for the next request, and replaced when it went stale;
batches of any size add up to the same rows."""

from __future__ import annotations

import io
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pyarrow as pa
import pytest

from hub.catalogue import Catalogue
from hub.datasets import arrow_read
from hub.settings import Settings
from tests.helpers import new_device
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration

START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
ROWS = 150_000
PATH = "/api/v1/datasets/air_quality/rows"


@pytest.fixture(scope="module")
def station(database_url: str, catalogue: Catalogue) -> str:
    """A station with ROWS readings a second apart (some MiB of CSV)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        device = new_device(conn, catalogue, "air_quality", zone=f"zs-{secrets.token_hex(3)}")
        conn.execute("INSERT INTO hub.telemetry SELECT %s + i * interval '1 second', %s, 'pm25', i %% 97 "
                     "FROM generate_series(0, %s - 1) AS i", (START, device, ROWS))
    return device


def _params(device: str, fmt: str) -> dict[str, str]:
    return {"device_id": device, "from": START.isoformat(),
            "to": (START + timedelta(days=2)).isoformat(), "format": fmt}


def _console_backends(database_url: str) -> list[tuple[str, str]]:
    """(state, query) of the console's connections that are busy or inside a transaction."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT state, query FROM pg_stat_activity WHERE application_name LIKE 'cityhub-console%%' "
            "AND datname = current_database() AND state <> 'idle'").fetchall()
    return [(str(s), str(q)) for s, q in rows]


def _readers(database_url: str) -> set[int]:
    """Backend pids of the console's dataset readers."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'cityhub-console-datasets' "
            "AND datname = current_database()").fetchall()
    return {int(r[0]) for r in rows}


def test_a_client_leaving_mid_stream_frees_its_connection(
    client: httpx.Client, token_for: Callable[[str], str], station: str, database_url: str,
    console_settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(arrow_read, "BATCH_BYTES", 64 * 1024)  # many batches per response
    caplog.set_level(logging.WARNING, logger="psycopg")
    headers = bearer(token_for("analyst"))
    # More abandoned streams than the console has reader slots: each must come back.
    for _ in range(console_settings.console_pool_size + 2):
        with client.stream("GET", PATH, params=_params(station, "csv"), headers=headers) as response:
            assert response.status_code == 200
            first = next(response.iter_bytes())
            assert first.startswith(b'"ts","device_id"')
    whole = client.get(PATH, params=_params(station, "arrow"), headers=headers, timeout=60)
    assert whole.status_code == 200
    assert pa.ipc.open_stream(io.BytesIO(whole.content)).read_all().num_rows == ROWS
    # The server notices the closed sockets on its next write: wait for that, boundedly.
    deadline = time.monotonic() + 30
    while (busy := _console_backends(database_url)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert busy == []
    # The abandoned readers were closed; the one read to its end is kept.
    assert 1 <= len(_readers(database_url)) <= console_settings.console_pool_size
    # psycopg's pool, which bound the parameters, had nothing to repair.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []


def test_a_reader_connection_is_kept_and_replaced_when_it_went_stale(
    client: httpx.Client, token_for: Callable[[str], str], station: str, database_url: str,
) -> None:
    headers = bearer(token_for("analyst"))
    params = {**_params(station, "arrow"), "to": (START + timedelta(hours=1)).isoformat()}

    def rows() -> int:
        response = client.get(PATH, params=params, headers=headers, timeout=60)
        assert response.status_code == 200, response.text
        return pa.ipc.open_stream(io.BytesIO(response.content)).read_all().num_rows

    assert rows() == 3600
    kept = _readers(database_url)
    assert rows() == 3600
    assert _readers(database_url) == kept != set()
    # As after a restart of the database: every kept connection is dead.
    with psycopg.connect(database_url, autocommit=True) as conn:
        for pid in kept:
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    assert rows() == 3600
    assert _readers(database_url).isdisjoint(kept)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "arrow"])
def test_small_batches_add_up_to_every_row(
    client: httpx.Client, token_for: Callable[[str], str], station: str, fmt: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(arrow_read, "BATCH_BYTES", 256 * 1024)
    params = {**_params(station, fmt), "to": (START + timedelta(hours=3)).isoformat()}
    response = client.get(PATH, params=params, headers=bearer(token_for("analyst")), timeout=60)
    assert response.status_code == 200, response.text
    body = response.content
    if fmt == "csv":
        lines = body.decode().splitlines()
        assert lines[0] == '"ts","device_id","zone","metric","value","unit"'
        count = len(lines) - 1
    elif fmt == "jsonl":
        count = len(body.decode().splitlines())
    elif fmt == "parquet":
        import pyarrow.parquet as pq
        count = pq.read_table(io.BytesIO(body)).num_rows
    else:
        count = pa.ipc.open_stream(io.BytesIO(body)).read_all().num_rows
    assert count == 3 * 3600
