"""The Arrow reader's pure parts: the session it asks for and how driver errors are told
to callers. Its reading is tested against the database in
tests/ops_console/test_dataset_stream.py and through every datasets test."""

from __future__ import annotations

import adbc_driver_manager as adbc
import pyarrow as pa
from psycopg import conninfo

from hub.datasets.arrow_read import QueryFailed, reader_conninfo, translate
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
