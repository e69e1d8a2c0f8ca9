"""Exceptions of `cityhub bench …`.

    HubError
     └── BenchError   a bench could not set up, run or measure a trial

A consumer that falls short of a target is not an error: the figures say so.
"""

from hub.errors import HubError


class BenchError(HubError):
    pass
