"""The data scientists' datasets: catalogue, query requests, statistics and file formats.

    hub.errors.InvalidInput
     └── DatasetQueryError   a rows request names an unknown column, filter, bucket,
                             aggregate or format, or asks for too much at once (HTTP 400)
    hub.errors.NotFound
     └── UnknownDataset      no dataset of that name in the catalogue (HTTP 404)

The catalogue (``catalogue.json``) is data: every identifier the query layer puts
into SQL comes from it, never from the request.
"""

from __future__ import annotations

from hub.errors import InvalidInput, NotFound


class DatasetQueryError(InvalidInput):
    """A rows request that cannot be answered as asked; the message says why."""


class UnknownDataset(NotFound):
    """No dataset of that name."""


__all__ = ["DatasetQueryError", "UnknownDataset"]
