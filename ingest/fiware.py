"""FIWARE Smart Data Models ``AirQualityObserved`` entities as cityhub readings. Pure.

Stations that already speak the FIWARE model publish it unchanged on the telemetry
topic. Three shapes are met in the field: key-values (``"pm10": 41``), NGSI v2
normalized (``"pm10": {"type": "Number", "value": 41, "metadata": {"unitCode": …}}``)
and NGSI-LD normalized (``"pm10": {"type": "Property", "value": 41, "unitCode": "GQ"}``).
The topic, not the entity id, names the device; attributes outside the catalogue
(address, location, airQualityIndex …) are not readings and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.messages import Rejection

ENTITY_TYPE = "AirQualityObserved"

# FIWARE attribute → catalogue metric.
_METRICS = {
    "pm10": "pm10", "pm25": "pm25", "no2": "no2", "o3": "o3", "co": "co", "so2": "so2",
    "temperature": "temperature", "relativeHumidity": "humidity",
}
_GASES_G_PER_MOL = {"no2": 46.0055, "o3": 47.9982, "co": 28.0101, "so2": 64.066}
# Litres per mole of an ideal gas at 25 °C and 1 atm: the usual basis for ppm ↔ µg/m³.
_MOLAR_VOLUME_L = 24.45
# UN/CEFACT common codes that stations use in unitCode.
_UG_M3, _MG_M3, _PPM, _PPB, _CELSIUS, _PERCENT, _FRACTION = "GQ", "GP", "59", "61", "CEL", "P1", "C62"


def is_entity(reading: Mapping[str, Any]) -> bool:
    return reading.get("type") == ENTITY_TYPE


def _plain(attribute: object) -> tuple[object, str | None]:
    """(value, unitCode) of an attribute in any of the three shapes."""
    if not isinstance(attribute, dict):
        return attribute, None
    value = attribute.get("value")
    unit = attribute.get("unitCode")
    metadata = attribute.get("metadata")
    if unit is None and isinstance(metadata, dict):
        meta_unit = metadata.get("unitCode")
        unit = meta_unit.get("value") if isinstance(meta_unit, dict) else meta_unit
    return value, unit if isinstance(unit, str) else None


def _date(attribute: object) -> object:
    value, _ = _plain(attribute)
    if isinstance(value, dict):  # NGSI-LD: {"@type": "DateTime", "@value": "…"}
        return value.get("@value")
    return value


def _convert(metric: str, value: float, unit: str | None) -> float | Rejection:
    if unit is None:
        # Without a unit the catalogue's units are assumed, except humidity, which the
        # model defines as a fraction of one.
        return value * 100 if metric == "humidity" else value
    if metric in _GASES_G_PER_MOL:
        if unit == _PPM:
            return value
        if unit == _PPB:
            return value / 1000
        if unit in (_UG_M3, _MG_M3):
            micrograms = value * 1000 if unit == _MG_M3 else value
            return micrograms * _MOLAR_VOLUME_L / (_GASES_G_PER_MOL[metric] * 1000)
    elif metric in ("pm10", "pm25"):
        if unit == _UG_M3:
            return value
        if unit == _MG_M3:
            return value * 1000
    elif metric == "temperature":
        if unit == _CELSIUS:
            return value
    elif metric == "humidity":
        if unit == _PERCENT:
            return value
        if unit == _FRACTION:
            return value * 100
    return Rejection("bad_unit", f"unitCode {unit!r} is not supported for {metric}")


def to_reading(entity: Mapping[str, Any]) -> dict[str, object] | Rejection:
    """The ``{"ts": …, <metric>: number, …}`` reading an entity stands for."""
    if "dateObserved" not in entity:
        return Rejection("bad_timestamp", "an AirQualityObserved entity has no 'dateObserved'")
    reading: dict[str, object] = {"ts": _date(entity["dateObserved"])}
    for attribute, metric in _METRICS.items():
        if attribute not in entity:
            continue
        value, unit = _plain(entity[attribute])
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return Rejection("bad_value", f"{attribute!r} must be a number")
        converted = _convert(metric, float(value), unit)
        if isinstance(converted, Rejection):
            return converted
        reading[metric] = converted
    return reading
