"""Which stations a station is compared with. Pure.

A station's neighbours are the other stations of its zone (district): close enough that a
real episode reaches them within a minute or two. A zone with fewer than two others
borrows the nearest stations up to ``k`` within ``max_km``: a station alone in the world has
no neighbours, so it is never judged (its readings go to the rules as they are).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

EARTH_KM = 6371.0


@dataclass(frozen=True, slots=True)
class Site:
    device_id: str
    zone: str | None
    lat: float | None
    lon: float | None


def distance_km(a: Site, b: Site) -> float:
    if a.lat is None or a.lon is None or b.lat is None or b.lon is None:
        return math.inf
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(h))


def neighbours(sites: Iterable[Site], *, k: int = 3, max_km: float = 3.0,
               min_same_zone: int = 2) -> dict[str, tuple[str, ...]]:
    """Device id → its neighbours' ids (sorted), for every site."""
    all_sites = sorted(sites, key=lambda s: s.device_id)
    by_zone: dict[str | None, list[Site]] = {}
    for s in all_sites:
        by_zone.setdefault(s.zone, []).append(s)
    out: dict[str, tuple[str, ...]] = {}
    for s in all_sites:
        same = [o.device_id for o in by_zone.get(s.zone, []) if o.device_id != s.device_id] \
            if s.zone is not None else []
        if len(same) >= min_same_zone:
            out[s.device_id] = tuple(same)
            continue
        near = sorted((distance_km(s, o), o.device_id) for o in all_sites if o.device_id != s.device_id)
        out[s.device_id] = tuple(sorted(i for d, i in near[:k] if d <= max_km))
    return out


def sites_of(rows: Iterable[tuple[str, str | None, float | None, float | None]]) -> Mapping[str, Site]:
    return {r[0]: Site(*r) for r in rows}
