"""FIWARE AirQualityObserved attributes and the unit codes the hub converts from. Pure.

One table serves ingest, which converts a value to the catalogue's unit, and the device
contract, which lists per attribute the UN/CEFACT codes a station may send; keeping it
in one place keeps the JSON Schema and the hub from disagreeing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# FIWARE attribute -> catalogue metric (air_quality kind).
ATTRIBUTES: Mapping[str, str] = {
    "pm10": "pm10", "pm25": "pm25", "no2": "no2", "o3": "o3", "co": "co", "so2": "so2",
    "temperature": "temperature", "relativeHumidity": "humidity",
}


@dataclass(frozen=True, slots=True)
class UnitCode:
    """A UN/CEFACT common code and how a value in it becomes the catalogue's unit."""

    code: str
    title: str
    multiply: float = 1.0
    divide: float = 1.0

    def convert(self, value: float) -> float:
        return value * self.multiply / self.divide


# Litres per mole of an ideal gas at 25 °C and 1 atm: the usual basis for ppm <-> µg/m³.
MOLAR_VOLUME_L = 24.45
_GASES_G_PER_MOL = {"no2": 46.0055, "o3": 47.9982, "co": 28.0101, "so2": 64.066}


def _gas(metric: str) -> tuple[UnitCode, ...]:
    micrograms_per_ppm = _GASES_G_PER_MOL[metric] * 1000
    return (
        UnitCode("59", "ppm (as is)"),
        UnitCode("61", "ppb (divided by 1000)", divide=1000),
        UnitCode("GQ", "µg/m³ (converted to ppm at 25 °C)", MOLAR_VOLUME_L, micrograms_per_ppm),
        UnitCode("GP", "mg/m³ (converted to ppm at 25 °C)", MOLAR_VOLUME_L * 1000,
                 micrograms_per_ppm),
    )


_PARTICLES = (UnitCode("GQ", "µg/m³ (as is)"), UnitCode("GP", "mg/m³ (times 1000)", 1000))
_FRACTION = UnitCode("C62", "a fraction of one (times 100)", 100)

# Catalogue metric -> unit code -> conversion. A code not listed for a metric is refused.
UNITS: Mapping[str, Mapping[str, UnitCode]] = {
    metric: {unit.code: unit for unit in units}
    for metric, units in {
        "pm10": _PARTICLES,
        "pm25": _PARTICLES,
        **{gas: _gas(gas) for gas in _GASES_G_PER_MOL},
        "temperature": (UnitCode("CEL", "°C (as is)"),),
        "humidity": (UnitCode("P1", "percent (as is)"), _FRACTION),
    }.items()
}

# Without a unitCode a value is read as the data model's own examples write it: pollutant
# concentrations in µg/m³ (the Madrid example's no2 69, so2 11, co 500), temperature in
# °C and relativeHumidity as a fraction of one. Gases are stored in ppm, so a bare gas
# value is converted exactly as one sent with unitCode GQ.
UNITLESS: Mapping[str, UnitCode] = {
    metric: units.get("GQ") or next(iter(units.values())) for metric, units in UNITS.items()
} | {"humidity": _FRACTION}

# The catalogue's unit of each metric (hub/kinds.json), for sentences that name both units.
STORED_UNITS: Mapping[str, str] = {
    "pm10": "µg/m³", "pm25": "µg/m³", **dict.fromkeys(_GASES_G_PER_MOL, "ppm"),
    "temperature": "°C", "humidity": "%",
}
