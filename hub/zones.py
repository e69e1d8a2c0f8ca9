"""Zone areas in the registry (``hub.zones``, migration 0021): the ground a zone's cameras watch.

Analytics divides the zone's person counts by this area for crowd density (analytics/crowd.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import psycopg

from hub.errors import InvalidInput, NotFound

Conn = psycopg.Connection[tuple[object, ...]]
MAX_AREA_M2 = 1e9  # larger than any city: a typo, not a zone


@dataclass(frozen=True, slots=True)
class Zone:
    zone: str
    area_m2: float
    name_ko: str | None = None
    name_en: str | None = None


def _zone(row: Sequence[object]) -> Zone:
    zone, area, name_ko, name_en = row
    return Zone(str(zone), float(area),  # type: ignore[arg-type]
                None if name_ko is None else str(name_ko), None if name_en is None else str(name_en))


def check_area(area_m2: float) -> float:
    if not math.isfinite(area_m2) or area_m2 <= 0 or area_m2 > MAX_AREA_M2:
        raise InvalidInput(f"--area-m2 must be more than 0 and at most {MAX_AREA_M2:g} m², "
                           f"not {area_m2:g}.")
    return area_m2


def set_zone(conn: Conn, zone: str, area_m2: float, *, name_ko: str | None = None,
             name_en: str | None = None) -> Zone:
    """Set (or change) a zone's area and names; names not given stay as they were."""
    if not zone.strip():
        raise InvalidInput("A zone name must not be empty.")
    check_area(area_m2)
    row = conn.execute(
        "INSERT INTO hub.zones AS z (zone, area_m2, name_ko, name_en) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (zone) DO UPDATE SET area_m2 = EXCLUDED.area_m2, "
        "name_ko = coalesce(EXCLUDED.name_ko, z.name_ko), name_en = coalesce(EXCLUDED.name_en, z.name_en), "
        "updated_at = now(), updated_by = current_user "
        "RETURNING zone, area_m2, name_ko, name_en", (zone, area_m2, name_ko, name_en)).fetchone()
    assert row is not None
    return _zone(row)


def list_zones(conn: Conn) -> list[Zone]:
    return [_zone(r) for r in conn.execute(
        "SELECT zone, area_m2, name_ko, name_en FROM hub.zones ORDER BY zone").fetchall()]


def remove_zone(conn: Conn, zone: str) -> None:
    if conn.execute("DELETE FROM hub.zones WHERE zone = %s", (zone,)).rowcount == 0:
        raise NotFound(f"No area is set for zone {zone!r} (`cityhub device zone list`).")


def add_missing_areas(conn: Conn, areas: Mapping[str, float]) -> int:
    """Set the areas of the zones that have none (an operator's areas stay); returns how many."""
    added = 0
    for zone, area in sorted(areas.items()):
        check_area(area)
        cur = conn.execute("INSERT INTO hub.zones (zone, area_m2) VALUES (%s, %s) "
                           "ON CONFLICT (zone) DO NOTHING", (zone, area))
        added += cur.rowcount
    return added


# What one demo camera watches: a station exit or a small plaza.
DEMO_VIEW_M2 = 150.0


def camera_areas(camera_zones: Iterable[str | None], view_m2: float = DEMO_VIEW_M2) -> dict[str, float]:
    """Zone → area for simulated fleets: *view_m2* per camera in the zone."""
    areas: dict[str, float] = {}
    for zone in camera_zones:
        if zone:
            areas[zone] = areas.get(zone, 0.0) + view_m2
    return areas
