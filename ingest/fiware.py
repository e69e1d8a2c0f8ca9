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

from hub.fiware_units import ATTRIBUTES, UNITLESS, UNITS
from ingest.messages import Rejection

ENTITY_TYPE = "AirQualityObserved"


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
        return UNITLESS[metric].convert(value)
    known = UNITS[metric].get(unit)
    if known is None:
        return Rejection("bad_unit", f"unitCode {unit!r} is not supported for {metric}")
    return known.convert(value)


def to_reading(entity: Mapping[str, Any]) -> dict[str, object] | Rejection:
    """The ``{"ts": …, <metric>: number, …}`` reading an entity stands for."""
    if "dateObserved" not in entity:
        return Rejection("bad_timestamp", "an AirQualityObserved entity has no 'dateObserved'")
    reading: dict[str, object] = {"ts": _date(entity["dateObserved"])}
    for attribute, metric in ATTRIBUTES.items():
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
