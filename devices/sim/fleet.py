"""The simulated fleet: which devices exist, where, with deterministic ids. Pure."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devices.sim.errors import SimulationError
from devices.sim.zones import SEOUL, Zone

# Kinds the simulator models, and the prefix of their device ids.
PREFIXES = {"air_quality": "aq", "smart_meter": "meter", "cctv": "cctv"}
# Within about a kilometre of the district centre.
_JITTER_DEG = 0.008


@dataclass(frozen=True, slots=True)
class SimDevice:
    id: str
    kind: str
    zone: str
    lat: float
    lon: float


def parse_counts(items: Sequence[str]) -> dict[str, int]:
    """``["air_quality=50", "cctv=3"]`` → counts; kinds may also be written aq/meter."""
    aliases = {prefix: kind for kind, prefix in PREFIXES.items()}
    aliases |= {k.replace("_", "-"): k for k in PREFIXES}
    counts: dict[str, int] = {}
    for item in items:
        name, sep, number = item.partition("=")
        kind = aliases.get(name.strip(), name.strip())
        if not sep or kind not in PREFIXES:
            raise SimulationError(
                f"--devices {item!r}: write KIND=COUNT with KIND one of {', '.join(PREFIXES)}."
            )
        try:
            count = int(number)
        except ValueError:
            raise SimulationError(f"--devices {item!r}: the count must be a whole number.") from None
        if count < 0:
            raise SimulationError(f"--devices {item!r}: the count must not be negative.")
        counts[kind] = counts.get(kind, 0) + count
    return counts


def build_fleet(counts: Mapping[str, int], seed: int, zones: Sequence[Zone] = SEOUL) -> list[SimDevice]:
    """*counts* devices of each kind spread over *zones*; ids like ``aq-jung-0001``.

    The same counts, seed and zones always give the same fleet, so a rerun publishes
    for the same (registered) devices.
    """
    if not zones:
        raise SimulationError("At least one zone is needed to place devices.")
    fleet: list[SimDevice] = []
    for kind in PREFIXES:
        count = counts.get(kind, 0)
        rng = random.Random(f"{seed}:{kind}")
        numbers: dict[str, int] = {}
        for _ in range(count):
            zone = zones[rng.randrange(len(zones))]
            numbers[zone.name] = numbers.get(zone.name, 0) + 1
            fleet.append(SimDevice(
                f"{PREFIXES[kind]}-{zone.short}-{numbers[zone.name]:04d}", kind, zone.name,
                round(zone.lat + rng.uniform(-_JITTER_DEG, _JITTER_DEG), 6),
                round(zone.lon + rng.uniform(-_JITTER_DEG, _JITTER_DEG), 6),
            ))
    return fleet


def load_devices_file(path: Path) -> list[SimDevice]:
    """A JSON list of ``{"id", "kind", "zone"?, "lat"?, "lon"?}`` (as `cityhub up` writes)."""
    try:
        listed = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SimulationError(f"Cannot read the devices file {path}: {exc.strerror}.") from None
    except ValueError as exc:
        raise SimulationError(f"The devices file {path} is not valid JSON: {exc}.") from None
    if not isinstance(listed, list):
        raise SimulationError(f"The devices file {path} must hold a JSON list of devices.")
    centre = SEOUL[1]
    fleet: list[SimDevice] = []
    for n, item in enumerate(listed, 1):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise SimulationError(f"{path}: entry {n} needs at least \"id\" and \"kind\".")
        kind = item.get("kind")
        if kind not in PREFIXES:
            raise SimulationError(
                f"{path}: device {item['id']!r} has kind {kind!r}; the simulator models "
                f"{', '.join(PREFIXES)}."
            )
        lat, lon = item.get("lat"), item.get("lon")
        fleet.append(SimDevice(
            item["id"], str(kind), str(item.get("zone") or centre.name),
            float(lat) if isinstance(lat, int | float) else centre.lat,
            float(lon) if isinstance(lon, int | float) else centre.lon,
        ))
    return fleet
