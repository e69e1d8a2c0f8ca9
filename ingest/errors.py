"""Exceptions of the ingest service.

    IngestError
     ├── BrokerError     the broker refused us or cannot be reached at start
     └── StoreError      a batch could not be written for a reason other than an outage

Database outages surface as ``hub.errors.DatabaseUnavailable``: the service waits
and retries, never acknowledging what is not committed. A bad *message* is not an
exception at all: it becomes a ``Rejection`` and a dead letter.
"""

from hub.errors import HubError


class IngestError(HubError):
    """Base of the ingest service's own errors."""


class BrokerError(IngestError):
    pass


class StoreError(IngestError):
    pass
