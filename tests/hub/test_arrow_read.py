"""The Arrow reader: the session it asks for and how driver errors are told to callers
(pure); a cancel that ends the query on the server, and a connection kept after a read to
its end (database). Its use by the console is tested in
tests/ops_console/test_dataset_stream.py and through every datasets test."""

from __future__ import annotations

import secrets
import time

import adbc_driver_manager as adbc
import psycopg
import pyarrow as pa
import pytest
from psycopg import conninfo

from hub.datasets.arrow_read import ArrowConnections, ArrowRows, QueryFailed, reader_conninfo, translate
from hub.errors import DatabaseUnavailable, InvalidInput

STATEMENT = "SELECT * FROM anon.air_quality WHERE device_id = 'aq-secret-filter'"


def test_the_session_settings_join_the_urls_own_options() -> None:
    plain = conninfo.conninfo_to_dict(reader_conninfo("postgresql://reader@db.example/city", "probe"))
    assert (plain["host"], plain["dbname"], plain["user"]) == ("db.example", "city", "reader")
    assert plain["application_name"] == "probe"
    assert plain["options"] == "-c default_transaction_read_only=on -c TimeZone=UTC -c jit=off"
    given = conninfo.conninfo_to_dict(reader_conninfo(
        "host=db.example dbname=city options='-c search_path=anon'", "probe"))
    assert str(given["options"]).startswith("-c search_path=anon -c default_transaction_read_only=on")


def test_driver_errors_become_hub_errors_without_the_statement() -> None:
    cases = [
        (adbc.DataError(STATEMENT, status_code=adbc.AdbcStatusCode.INVALID_DATA, sqlstate="22008"),
         InvalidInput, "22008"),
        (adbc.OperationalError(STATEMENT, status_code=adbc.AdbcStatusCode.IO), DatabaseUnavailable, ""),
        (adbc.ProgrammingError(STATEMENT, status_code=adbc.AdbcStatusCode.INVALID_STATE,
                               sqlstate="08006"), DatabaseUnavailable, ""),
        (pa.ArrowIOError(STATEMENT), DatabaseUnavailable, ""),
        (adbc.ProgrammingError(STATEMENT, status_code=adbc.AdbcStatusCode.INVALID_ARGUMENT,
                               sqlstate="42501"), QueryFailed, "42501"),
    ]
    for error, kind, state in cases:
        translated = translate(error)
        assert type(translated) is kind, error
        assert state in str(translated)
        assert "aq-secret-filter" not in str(translated)


def _backends(database_url: str, application_name: str) -> list[str]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT state FROM pg_stat_activity WHERE application_name = %s",
                            (application_name,)).fetchall()
    return [str(r[0]) for r in rows]


@pytest.mark.integration
def test_a_cancelled_read_ends_on_the_server_and_a_finished_one_is_kept(database_url: str) -> None:
    name = f"cityhub-test-reader-{secrets.token_hex(3)}"
    connections = ArrowConnections(database_url, name, keep=1)
    # Rows as the server makes them: a lone generate_series would be materialised first.
    endless = ArrowRows(connections, "SELECT a * 100000 + b FROM generate_series(1, 100000) AS a, "
                        "generate_series(1, 100000) AS b", pa.schema([("g", pa.int32())]),
                        batch_bytes=64 * 1024)
    endless.start()
    first = endless.next_batch()
    assert first is not None
    assert first.num_rows > 0
    endless.cancel()
    # What the driver had buffered may still come; the server's error follows within a few
    # (through pyarrow's stream it carries no SQLSTATE).
    def drain() -> None:
        for _ in range(1000):
            endless.next_batch()

    with pytest.raises(DatabaseUnavailable):
        drain()
    endless.close()
    deadline = time.monotonic() + 10
    while _backends(database_url, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _backends(database_url, name) == []
    whole = ArrowRows(connections, "SELECT g FROM generate_series(1, 100000) AS g",
                      pa.schema([("g", pa.int64())]))
    whole.start()
    table = whole.read_all()
    whole.close()
    assert table.num_rows == 100_000
    assert table.schema.field("g").type == pa.int64()  # cast to the schema asked for
    assert _backends(database_url, name) == ["idle"]
    connections.close()
    assert _backends(database_url, name) == []
