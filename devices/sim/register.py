"""Registering the simulated fleet in the hub (`cityhub simulate --register`).

The only simulator module that touches the hub's database; the models never do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from devices.sim.fleet import SimDevice
from devices.sim.smart_meter import profile_of
from hub.catalogue import Catalogue
from hub.db import connection
from hub.device_tokens import TokenKeys
from hub.registry import add_missing
from hub.welfare import record_many
from hub.zones import add_missing_areas, camera_areas


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
        added = add_missing(conn, catalogue, rows, progress=progress, keys=keys)
        # Crowd density needs the ground the cameras watch (an operator's areas are kept).
        add_missing_areas(conn, camera_areas(d.zone for d in fleet if d.kind == "cctv"))
        return added


def register_welfare(database_url: str, fleet: Sequence[SimDevice], seed: int) -> int:
    """Record the welfare-check consent of the fleet's simulated single elderly households (the
    ones the ``meters`` scenario's inactive_household picks), unless a consent row exists."""
    elderly = [d.id for d in fleet if d.kind == "smart_meter" and profile_of(d.id, seed) == "single_elderly"]
    with connection(database_url) as conn:
        return record_many(conn, elderly, given_at=datetime.now(UTC), given_by="resident (simulated)",
                           basis="simulated care programme enrolment form", actor="simulator")
