"""The database server benches work on, and its version for the figures."""

from __future__ import annotations

from hub.db import connection

# The local server of `make services`, where benches make their throw-away databases.
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_version(url: str) -> str:
    with connection(url, application_name="cityhub-bench") as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return "" if row is None else str(row[0]).split(" ", 1)[0]
