"""`cityhub bench query`: the data scientists' paths against a month of 1,000 stations.

    data.py     the bench's data: stations and a month of 1-minute PM2.5 readings, generated
                in the database (INSERT … SELECT generate_series), and an analyst SQL login
    console.py  the console as a child process (`cityhub console`), its RSS sampled
    measure.py  the three measurements: bucketed rows latency, Parquet export, client vs read_sql
    report.py   the figures as a rich table and as the section of docs/benchmarks.md
    cli.py      the command

Errors: :class:`QueryBenchError` (a hub.errors.HubError) when the bench cannot run as asked.
"""

from __future__ import annotations

from hub.errors import HubError


class QueryBenchError(HubError):
    """The bench cannot run, or the hub answered it wrongly; the message says which."""


__all__ = ["QueryBenchError"]
