"""Registering the simulated fleet in the hub (`cityhub simulate --register`).

The only simulator module that touches the hub's database; the models never do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from devices.sim.fleet import SimDevice
from hub.catalogue import Catalogue
from hub.db import connection
from hub.device_tokens import TokenKeys
from hub.registry import add_missing


def register_missing(database_url: str, catalogue: Catalogue, fleet: Sequence[SimDevice],
                     progress: Callable[[int], None] | None = None,
                     keys: TokenKeys | None = None) -> int:
    """Add the devices of *fleet* that the registry lacks; return how many were added.

    Each registration hashes a new token under *keys* (CITYHUB_DEVICE_TOKEN_KEY), or
    with argon2 (about 0.1 s each) without them; the tokens are not kept — the simulator
    publishes with its own account.
    """
    rows = [(d.id, d.kind, d.zone, d.lat, d.lon) for d in fleet]
    with connection(database_url) as conn:
        return add_missing(conn, catalogue, rows, progress=progress, keys=keys)
