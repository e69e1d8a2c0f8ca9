"""FIWARE Smart Data Models ``AirQualityObserved`` entities as cityhub readings. Pure.

Stations that already speak the FIWARE model publish it unchanged on the telemetry
topic. Three shapes are met in the field: key-values (``"pm10": 41``), NGSI v2
normalized (``"pm10": {"type": "Number", "value": 41, "metadata": {"unitCode": …}}``)
and NGSI-LD normalized (``"pm10": {"type": "Property", "value": 41, "unitCode": "GQ"}``).
The topic, not the entity id, names the device; attributes outside the catalogue
(address, location, airQualityIndex …) are not readings and are left out. Values are
read by the data model's conventions (hub/fiware_units.py): without a unitCode,
pollutants in µg/m³, temperature in °C, relativeHumidity as a fraction of one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hub.fiware_units import ATTRIBUTES, STORED_UNITS, UNITLESS, UNITS
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
    known = UNITLESS[metric] if unit is None else UNITS[metric].get(unit)
    if known is None:
        return Rejection("bad_unit", f"unitCode {unit!r} is not supported for {metric}")
    return known.convert(value)


def _attribute(attribute: str, metric: str, raw: object,
               bounds: Mapping[str, tuple[float, float]]) -> float | Rejection | None:
    """The stored value of one attribute, None if it has none, or why it is refused."""
    value, unit = _plain(raw)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Rejection("bad_value", f"{attribute!r} must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits: outside any range, as in validate
        number = math.inf if value > 0 else -math.inf
    if math.isnan(number):
        return Rejection("bad_value", f"{attribute!r} must be a number")
    converted = _convert(metric, number, unit)
    if isinstance(converted, Rejection):
        return converted
    limits = bounds.get(metric)
    if limits is None:  # not this kind's metric: the reading is refused as wrong_kind
        return converted
    low, high = limits
    if not low <= converted <= high:
        stored = STORED_UNITS[metric]
        given = f"{attribute}={number:g}" + (f" ({unit})" if unit else "")
        as_stored = f"{converted:.6g} {stored}" + ("" if attribute == metric else f" of {metric}")
        return Rejection("out_of_range", f"{given} is {as_stored}, outside the valid range "
                                         f"{low:g}..{high:g} {stored}")
    return converted


def to_reading(entity: Mapping[str, Any], bounds: Mapping[str, tuple[float, float]]
               ) -> tuple[dict[str, object], list[Rejection]] | Rejection:
    """The ``{"ts": …, <metric>: number, …}`` reading an entity stands for, and the
    attributes refused one by one (out of range, an unknown unitCode, not a number).

    An entity is an observation of several independent quantities, and a station sends
    the same entity to every subscriber: one bad attribute is refused on its own and
    the others are kept. Only when no attribute is left is the whole entity refused.
    """
    if "dateObserved" not in entity:
        return Rejection("bad_timestamp", "an AirQualityObserved entity has no 'dateObserved'")
    reading: dict[str, object] = {"ts": _date(entity["dateObserved"])}
    refused: list[Rejection] = []
    for attribute, metric in ATTRIBUTES.items():
        if attribute not in entity:
            continue
        converted = _attribute(attribute, metric, entity[attribute], bounds)
        if isinstance(converted, Rejection):
            refused.append(converted)
        elif converted is not None:
            reading[metric] = converted
    if refused and len(reading) == 1:
        return Rejection(refused[0].code, "; ".join(r.reason for r in refused))
    return reading, refused
