"""Exceptions of the chaos scenarios.

    IngestError
     └── ChaosError      a scenario could not set up or inject its fault
          └── Unsupported   this machine cannot inject the fault (no mount, no server binaries)

A scenario that loses messages is not an error: its counts say so.
"""

from ingest.errors import IngestError


class ChaosError(IngestError):
    pass


class Unsupported(ChaosError):
    pass
