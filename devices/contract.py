"""The device contract: one JSON Schema (draft 2020-12) per device kind, built from the catalogue.

The schemas say in JSON Schema what ``ingest/validate.py`` accepts, so vendors can check
payloads before they publish. They are generated, never edited: ``cityhub contract
write`` rewrites ``devices/schemas/*.json`` and ``devices/asyncapi.yaml`` from
``hub/kinds.json``, and a test fails when the committed files drift from the catalogue.

What a schema cannot say, the hub checks at ingest: the time window (at most 5 minutes
ahead, back to the telemetry retention), whether the device is registered, whether a
gateway's children are registered behind it, and the range of a FIWARE value sent with a
unitCode (checked after converting it to the catalogue's unit).

Exceptions::

    HubError (hub.errors)
     └── ContractError        the committed contract files differ from the catalogue
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hub.catalogue import Catalogue, Kind
from hub.errors import HubError
from hub.fiware_units import ATTRIBUTES as FIWARE_ATTRIBUTES
from hub.fiware_units import UNITLESS, UNITS
from hub.registry import DEVICE_ID
from hub.timeparse import MAX_EPOCH_MS

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# Same limit as ingest.validate.MAX_READINGS_PER_MESSAGE (a test keeps them equal).
MAX_READINGS_PER_MESSAGE = 10_000
# ISO-8601 date and time with a UTC offset; a time without one is refused, not guessed.
ISO_WITH_OFFSET = (
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}:?\d{2})$"
)
FIWARE_KIND = "air_quality"


class ContractError(HubError):
    """The committed contract files are not what the catalogue generates."""


Schema = dict[str, Any]


def _timestamp() -> Schema:
    return {
        "description": "Reading time: ISO-8601 with a UTC offset ('Z' or '+09:00'), or epoch "
                       "milliseconds. At most 5 minutes in the future; late data is accepted "
                       "back to the telemetry retention (90 days by default).",
        "oneOf": [
            {"type": "string", "pattern": ISO_WITH_OFFSET,
             "examples": ["2026-11-23T10:00:00+09:00", "2026-11-23T01:00:00Z"]},
            {"type": "number", "minimum": 0, "exclusiveMaximum": MAX_EPOCH_MS,
             "examples": [1795395600000]},
        ],
    }


def _metric(kind: Kind, name: str) -> Schema:
    metric = kind.metrics[name]
    schema: Schema = {
        "type": "number",
        "minimum": _plain(metric.min),
        "maximum": _plain(metric.max),
        "x-unit": metric.unit,
    }
    if metric.title:
        schema["description"] = f"{metric.title} in {metric.unit}"
    if metric.cumulative:
        schema["x-cumulative"] = True
    return schema


def _plain(number: float) -> float | int:
    """Whole numbers as JSON integers, so the files read like the catalogue."""
    return int(number) if number.is_integer() else number


def _field(kind: Kind, name: str) -> Schema:
    spec = kind.fields[name]
    title = spec.title or name
    if spec.personal:
        return {
            "type": ["string", "integer"],
            "description": f"{title}. Personal data: the hub stores only a keyed pseudonym.",
            "x-personal": True,
        }
    return {"type": ["string", "number", "boolean", "null"], "description": title}


def _at_least_one_metric(kind: Kind) -> Schema:
    return {"anyOf": [{"required": [name]} for name in kind.metrics]}


def _values_properties(kind: Kind, prefix: str) -> Schema:
    properties: Schema = {name: {"$ref": f"#/$defs/{prefix}metrics/{name}"} for name in kind.metrics}
    properties.update({name: {"$ref": f"#/$defs/{prefix}fields/{name}"} for name in kind.fields})
    return properties


def _telemetry_defs(kind: Kind, prefix: str = "") -> Schema:
    """$defs of a kind that can publish readings: its metrics and fields, a reading in both
    forms, and the payload. A gateway's schema holds several kinds, each under its *prefix*."""
    flat: Schema = {
        "title": f"{kind.title}: reading",
        "type": "object",
        "required": ["ts"],
        "properties": {"ts": {"$ref": "#/$defs/timestamp"}, **_values_properties(kind, prefix)},
        "additionalProperties": False,
        **_at_least_one_metric(kind),
    }
    nested: Schema = {
        "title": f"{kind.title}: reading with 'values'",
        "type": "object",
        "required": ["ts", "values"],
        "properties": {
            "ts": {"$ref": "#/$defs/timestamp"},
            "values": {
                "type": "object",
                "properties": _values_properties(kind, prefix),
                "additionalProperties": False,
                **_at_least_one_metric(kind),
            },
        },
        "additionalProperties": False,
    }
    reading = {"$ref": f"#/$defs/{prefix}reading"}
    defs: Schema = {"metrics": {name: _metric(kind, name) for name in kind.metrics}}
    if kind.fields:
        defs["fields"] = {name: _field(kind, name) for name in kind.fields}
    defs.update({
        "reading": {"oneOf": [{"$ref": f"#/$defs/{prefix}flatReading"},
                              {"$ref": f"#/$defs/{prefix}valuesReading"}]},
        "flatReading": flat,
        "valuesReading": nested,
        "readings": {
            "oneOf": [
                reading,
                {"type": "array", "minItems": 1, "maxItems": MAX_READINGS_PER_MESSAGE,
                 "items": reading},
            ],
        },
    })
    return {prefix + name: value for name, value in defs.items()}


def _events_defs(kind: Kind) -> Schema:
    properties: Schema = {
        "ts": {"$ref": "#/$defs/timestamp"},
        "type": {"enum": sorted(kind.events),
                 "description": "Event type; its severity comes from the catalogue: "
                                + ", ".join(f"{e.name}={e.severity}"
                                            for e in sorted(kind.events.values(),
                                                            key=lambda e: e.name)) + "."},
        "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    }
    for name in kind.fields:
        properties[name] = {"$ref": f"#/$defs/fields/{name}"}
    for name in kind.metrics:
        properties[name] = {"type": ["string", "number", "boolean", "null"],
                            "description": f"Attribute of the event (metric {name!r})."}
    event: Schema = {
        "title": f"{kind.title}: event",
        "type": "object",
        "required": ["ts", "type"],
        "properties": properties,
        "additionalProperties": False,
    }
    return {
        "event": event,
        "events": {"oneOf": [{"$ref": "#/$defs/event"},
                             {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/event"}}]},
    }


def _fiware_attribute(kind: Kind, metric_name: str) -> Schema:
    """One attribute in key-values, NGSI v2 (unitCode in metadata or none) and NGSI-LD form."""
    metric = kind.metrics[metric_name]
    unitless = UNITLESS[metric_name]
    # Without a unitCode the value is in the data model's unit (hub/fiware_units.UNITLESS:
    # µg/m³ for pollutants, a fraction of one for humidity): the range is converted to it.
    scale = unitless.divide / unitless.multiply
    bare: Schema = {"type": "number", "minimum": _plain(metric.min * scale),
                    "maximum": _plain(metric.max * scale)}
    units = UNITS[metric_name]
    unit_code: Schema = {"enum": sorted(units),
                         "description": "; ".join(f"{c}: {units[c].title}" for c in sorted(units))}
    return {
        "description": f"Stored as {metric_name!r} in {metric.unit}"
                       + (f"; without a unitCode {unitless.title}" if unitless.code else "")
                       + ". With a unitCode the hub checks the range after converting.",
        "oneOf": [
            bare,
            {"type": "object", "required": ["type", "value"],
             "properties": {"type": {"const": "Number"}, "value": bare,
                            "metadata": {"not": {"required": ["unitCode"]}}},
             "not": {"required": ["unitCode"]}},
            {"type": "object", "required": ["type", "value", "metadata"],
             "properties": {
                 "type": {"const": "Number"},
                 "value": {"type": "number"},
                 "metadata": {"type": "object", "required": ["unitCode"], "properties": {
                     "unitCode": {"oneOf": [
                         unit_code,
                         {"type": "object", "required": ["value"],
                          "properties": {"value": unit_code}},
                     ]},
                 }},
             },
             "not": {"required": ["unitCode"]}},
            {"type": "object", "required": ["type", "value"],
             "properties": {"type": {"const": "Property"}, "value": bare},
             "not": {"required": ["unitCode"]}},
            {"type": "object", "required": ["type", "value", "unitCode"],
             "properties": {"type": {"const": "Property"}, "value": {"type": "number"},
                            "unitCode": unit_code}},
        ],
    }


def _fiware_defs(kind: Kind) -> Schema:
    """FIWARE Smart Data Models AirQualityObserved, key-values and normalized (NGSI v2 / LD)."""
    date_text: Schema = {"type": "string", "pattern": ISO_WITH_OFFSET}
    attributes: Schema = {attribute: _fiware_attribute(kind, metric_name)
                          for attribute, metric_name in FIWARE_ATTRIBUTES.items()}
    observed: Schema = {
        "title": "FIWARE AirQualityObserved",
        "description": "Key-values or normalized form. Attributes other than these (id, "
                       "address, location, airQualityIndex, reliability …) are ignored: the "
                       "topic, not the entity id, names the device.",
        "type": "object",
        "required": ["type", "dateObserved"],
        "properties": {
            "type": {"const": "AirQualityObserved"},
            "dateObserved": {"oneOf": [
                date_text,
                {"type": "object", "required": ["type", "value"],
                 "properties": {"type": {"const": "DateTime"}, "value": date_text}},
                {"type": "object", "required": ["type", "value"],
                 "properties": {"type": {"const": "Property"},
                                "value": {"type": "object", "required": ["@type", "@value"],
                                          "properties": {"@type": {"const": "DateTime"},
                                                         "@value": date_text}}}},
            ]},
            **attributes,
        },
    }
    return {
        "airQualityObserved": observed,
        "fiware": {"oneOf": [
            {"$ref": "#/$defs/airQualityObserved"},
            {"type": "array", "minItems": 1, "maxItems": MAX_READINGS_PER_MESSAGE,
             "items": {"$ref": "#/$defs/airQualityObserved"}},
        ]},
    }


def telemetry_description(kind: Kind) -> str:
    """What a device of *kind* publishes as telemetry, in a sentence or two."""
    if kind.metrics:
        text = (f"Telemetry of a {kind.name} device on cityhub/v1/{{device_id}}/telemetry: one "
                f"reading or an array of 1..{MAX_READINGS_PER_MESSAGE} readings.")
        if kind.name == FIWARE_KIND:
            text += " A FIWARE AirQualityObserved entity (or an array of them) is accepted too."
        return text
    if kind.name == "gateway":
        return ("What a gateway publishes on cityhub/v1/gateway/{gateway_id}/telemetry: device ids "
                "registered behind it (`cityhub device add --gateway`), each with its readings.")
    return f"A {kind.name} device publishes no telemetry."


def kind_schema(kind: Kind, catalogue: Catalogue) -> Schema:
    """The JSON Schema of what a device of *kind* publishes.

    The root validates its telemetry topic; ``#/$defs/events`` its events topic (kinds
    with events). A gateway's root validates the gateway topic instead.
    """
    defs: Schema = {"timestamp": _timestamp()}
    if kind.fields and not kind.metrics:
        defs["fields"] = {name: _field(kind, name) for name in kind.fields}
    schema: Schema = {
        "$schema": DRAFT,
        "$id": f"urn:cityhub:v1:kind:{kind.name}",
        "title": kind.title,
        "x-cityhub-kind": kind.name,
        "x-interval-s": kind.interval_s,
    }
    schema["description"] = telemetry_description(kind)
    if kind.metrics:
        defs.update(_telemetry_defs(kind))
        if kind.name == FIWARE_KIND:
            defs.update(_fiware_defs(kind))
            schema["oneOf"] = [{"$ref": "#/$defs/readings"}, {"$ref": "#/$defs/fiware"}]
        else:
            schema["$ref"] = "#/$defs/readings"
    elif kind.name == "gateway":
        defs.update(_gateway_defs(catalogue))
        schema["$ref"] = "#/$defs/gatewayPayload"
    else:
        schema["not"] = {}
    if kind.events:
        defs.update(_events_defs(kind))
    schema["$defs"] = defs
    return schema


def _gateway_defs(catalogue: Catalogue) -> Schema:
    """Readings of every kind that has metrics, inlined so the file stands alone."""
    defs: Schema = {}
    children: list[Schema] = []
    for kind in catalogue.kinds.values():
        if kind.metrics:
            prefix = f"{kind.name}_"
            defs.update(_telemetry_defs(kind, prefix))
            children.append({"$ref": f"#/$defs/{prefix}readings",
                              "title": f"readings of a {kind.name}"})
    defs["gatewayPayload"] = {
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"pattern": f"^{DEVICE_ID.pattern}$"},
        "additionalProperties": {"anyOf": children},
        "description": "Maps each device id to its readings (one or an array); the device's "
                       "registered kind decides which metrics are valid.",
    }
    return defs


def kind_schemas(catalogue: Catalogue) -> dict[str, Schema]:
    """File name -> schema, one per kind, in catalogue order."""
    return {f"{name}.json": kind_schema(kind, catalogue) for name, kind in catalogue.kinds.items()}


def dump_json(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
