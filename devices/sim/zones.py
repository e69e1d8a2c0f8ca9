"""Seoul's 25 districts (gu) with the approximate coordinates of their centres.

Simulated devices are placed around these centres; the spatial field of the air-quality
model and the path of a dust plume depend on coordinates, not on names, so a devices
file may use any zone names.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.sim.errors import SimulationError


@dataclass(frozen=True, slots=True)
class Zone:
    name: str  # as registered in the hub, e.g. "jung-gu"
    lat: float
    lon: float

    @property
    def short(self) -> str:
        """The name inside device ids: "jung" for "jung-gu"."""
        return self.name.removesuffix("-gu")


SEOUL = (
    Zone("jongno-gu", 37.5735, 126.9790),
    Zone("jung-gu", 37.5641, 126.9979),
    Zone("yongsan-gu", 37.5326, 126.9905),
    Zone("seongdong-gu", 37.5634, 127.0369),
    Zone("gwangjin-gu", 37.5385, 127.0823),
    Zone("dongdaemun-gu", 37.5744, 127.0396),
    Zone("jungnang-gu", 37.6066, 127.0927),
    Zone("seongbuk-gu", 37.5894, 127.0167),
    Zone("gangbuk-gu", 37.6396, 127.0257),
    Zone("dobong-gu", 37.6688, 127.0471),
    Zone("nowon-gu", 37.6542, 127.0568),
    Zone("eunpyeong-gu", 37.6027, 126.9291),
    Zone("seodaemun-gu", 37.5791, 126.9368),
    Zone("mapo-gu", 37.5663, 126.9019),
    Zone("yangcheon-gu", 37.5169, 126.8664),
    Zone("gangseo-gu", 37.5509, 126.8495),
    Zone("guro-gu", 37.4954, 126.8874),
    Zone("geumcheon-gu", 37.4569, 126.8955),
    Zone("yeongdeungpo-gu", 37.5264, 126.8962),
    Zone("dongjak-gu", 37.5124, 126.9393),
    Zone("gwanak-gu", 37.4784, 126.9516),
    Zone("seocho-gu", 37.4837, 127.0324),
    Zone("gangnam-gu", 37.5172, 127.0473),
    Zone("songpa-gu", 37.5145, 127.1059),
    Zone("gangdong-gu", 37.5301, 127.1238),
)

# The city centre (Seoul City Hall) and the western edge of the districts, for the field.
CENTRE_LAT, CENTRE_LON = 37.5663, 126.9779
WEST_LON = min(z.lon for z in SEOUL)
KM_PER_DEG_LAT = 111.0
KM_PER_DEG_LON = 88.2  # at 37.5° N


def distance_km(lat: float, lon: float, lat2: float = CENTRE_LAT, lon2: float = CENTRE_LON) -> float:
    dy = (lat - lat2) * KM_PER_DEG_LAT
    dx = (lon - lon2) * KM_PER_DEG_LON
    return float((dx * dx + dy * dy) ** 0.5)


def zones_named(names: str) -> tuple[Zone, ...]:
    """The districts in a comma-separated list of names ("jung-gu,mapo" or "all")."""
    if names.strip() in ("", "all"):
        return SEOUL
    by_name = {z.name: z for z in SEOUL} | {z.short: z for z in SEOUL}
    picked: list[Zone] = []
    for name in (n.strip() for n in names.split(",")):
        if name not in by_name:
            known = ", ".join(z.short for z in SEOUL)
            raise SimulationError(f"Unknown zone {name!r}; Seoul districts: {known}.")
        picked.append(by_name[name])
    return tuple(picked)
