"""Exceptions of `cityhub bench`.

    IngestError
     └── BenchError   the bench could not set up, run or measure a trial

A consumer that falls short of a target is not an error: the figures say so.
"""

from ingest.errors import IngestError


class BenchError(IngestError):
    pass
