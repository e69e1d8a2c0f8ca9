"""Exceptions of the ingest service.

    IngestError
     ├── BrokerError     the broker refused us or cannot be reached at start
     └── StoreError      a batch could not be written for a reason other than an outage
          └── WriteConflict  another writer's open transaction collided with it
                             (a deadlock or serialisation failure); retried as it is

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


class WriteConflict(StoreError):
    pass
