"""Registering the simulated fleet in the hub (`cityhub simulate --register`).

The only simulator module that touches the hub's database; the models never do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from devices.sim.fleet import SimDevice
from hub.catalogue import load_catalogue
from hub.db import connection
from hub.registry import add_device, list_devices


def register_missing(database_url: str, kinds_file: Path | None, fleet: Sequence[SimDevice],
                     progress: Callable[[int], None] | None = None) -> int:
    """Add the devices of *fleet* that the registry lacks; return how many were added.

    Each registration hashes a new token (argon2, about 0.1 s), so this suits fleets of
    hundreds; the tokens are not kept — the simulator publishes with its own account.
    """
    catalogue = load_catalogue(kinds_file)
    added = 0
    with connection(database_url) as conn:
        known = {d.id for d in list_devices(conn)}
        for device in fleet:
            if device.id in known:
                continue
            add_device(conn, catalogue, device.id, device.kind, zone=device.zone,
                       lat=device.lat, lon=device.lon)
            added += 1
            if progress is not None:
                progress(added)
    return added
