"""Valid payloads with what they must become: (payload, what is expected of it).

Built from the catalogue, so every kind's metrics, fields and events are covered, in
every form the contract allows (docs/ingest.md, "Payloads"), FIWARE entities included."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from hypothesis import strategies as st

from hub.catalogue import Kind, Metric
from hub.fiware_units import ATTRIBUTES, UNITLESS, UNITS, UnitCode
from ingest.messages import TelemetryRow
from tests.fuzz.strategies import iso, timestamps
from tests.fuzz.world import CATALOGUE, DEVICES

# A personal value, shaped like a plate so that nothing else could hold it by chance.
PERSONAL = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1,
                   max_size=8).map(lambda text: f"12가{text}")
PLAIN = st.text(max_size=10)


@dataclass(frozen=True)
class Expected:
    rows: list[TelemetryRow] = field(default_factory=list)
    # ts, type, confidence and the plain attributes of each event
    events: list[tuple[datetime, str, float | None, dict[str, object]]] = field(default_factory=list)
    personal: list[str] = field(default_factory=list)  # values stored only as pseudonyms


def kind_of(device: str) -> Kind:
    return CATALOGUE.kinds[DEVICES[device].kind]


def numbers(metric: Metric) -> st.SearchStrategy[float | int]:
    ints = st.integers(math.ceil(metric.min), math.floor(metric.max))
    return st.floats(metric.min, metric.max, allow_nan=False) | ints


@st.composite
def _fields(draw: st.DrawFn, kind: Kind, expected: Expected) -> dict[str, object]:
    body: dict[str, object] = {}
    for name, spec in kind.fields.items():
        if draw(st.booleans()):
            body[name] = draw(PERSONAL if spec.personal else PLAIN)
            if spec.personal:
                expected.personal.append(str(body[name]))
    return body


@st.composite
def native(draw: st.DrawFn, device: str) -> tuple[object, Expected]:
    """One reading or an array, flat or in the ``values`` form, with the kind's fields."""
    kind, expected = kind_of(device), Expected()
    readings: list[object] = []
    for _ in range(draw(st.integers(1, 4))):
        raw_ts, ts = draw(timestamps())
        metrics = draw(st.lists(st.sampled_from(sorted(kind.metrics)), min_size=1, unique=True))
        body = {m: draw(numbers(kind.metrics[m])) for m in metrics} | draw(_fields(kind, expected))
        body = {k: body[k] for k in draw(st.permutations(list(body)))}
        expected.rows.extend((ts, device, k, float(v))  # type: ignore[arg-type]
                             for k, v in body.items() if k in kind.metrics)
        readings.append({"ts": raw_ts, "values": body} if draw(st.booleans())
                        else {"ts": raw_ts, **body})
    payload = readings[0] if len(readings) == 1 and draw(st.booleans()) else readings
    return payload, expected


@st.composite
def events(draw: st.DrawFn, device: str) -> tuple[object, Expected]:
    kind, expected = kind_of(device), Expected()
    items: list[object] = []
    for _ in range(draw(st.integers(1, 3))):
        raw_ts, ts = draw(timestamps())
        event_type = draw(st.sampled_from(sorted(kind.events)))
        item: dict[str, object] = {"ts": raw_ts, "type": event_type}
        confidence = draw(st.none() | st.floats(0, 1) | st.sampled_from([0, 1]))
        if confidence is not None:
            item["confidence"] = confidence
        fields = draw(_fields(kind, expected))
        plain = {k: v for k, v in fields.items() if not kind.fields[k].personal}
        expected.events.append((ts, event_type, None if confidence is None else float(confidence),
                                plain))
        items.append(item | fields)
    payload = items[0] if len(items) == 1 and draw(st.booleans()) else items
    return payload, expected


def _unit(metric: str) -> st.SearchStrategy[UnitCode | None]:
    return st.none() | st.sampled_from(sorted(UNITS[metric].values(), key=lambda u: u.code))


@st.composite
def fiware(draw: st.DrawFn, device: str) -> tuple[object, Expected]:
    """An AirQualityObserved entity in key-values, NGSI v2 or NGSI-LD form, each value sent
    in a unit the hub converts (or none), chosen so that it lands inside the valid range."""
    kind, expected = kind_of(device), Expected()
    _, ts = draw(timestamps())
    when = iso(ts, draw(st.integers(-12 * 60, 12 * 60)))
    shape = draw(st.sampled_from(("key-values", "v2", "ld")))
    dates = {"key-values": when, "v2": {"type": "DateTime", "value": when},
             "ld": {"type": "Property", "value": {"@type": "DateTime", "@value": when}}}
    entity: dict[str, object] = {"id": "urn:ngsi-ld:AirQualityObserved:x",
                                 "type": "AirQualityObserved", "dateObserved": dates[shape]}
    for attribute in draw(st.lists(st.sampled_from(sorted(ATTRIBUTES)), min_size=1, unique=True)):
        metric = ATTRIBUTES[attribute]
        unit = draw(_unit(metric))
        conversion = UNITLESS[metric] if unit is None else unit
        low, high = kind.metrics[metric].min, kind.metrics[metric].max
        # The sent value whose conversion is inside the range, a little away from its ends.
        factor, margin = conversion.multiply / conversion.divide, (high - low) * 1e-6
        sent = draw(st.floats((low + margin) / factor, (high - margin) / factor))
        expected.rows.append((ts, device, metric, conversion.convert(sent)))
        code = None if unit is None else unit.code
        if shape == "v2":
            entity[attribute] = {"type": "Number", "value": sent} | (
                {"metadata": {"unitCode": {"value": code}}} if code else {})
        elif shape == "ld" or code:  # key-values has no place for a unit: normalized then
            entity[attribute] = {"type": "Property", "value": sent} | ({"unitCode": code} if code else {})
        else:
            entity[attribute] = sent
    # The entity's attributes are read in the catalogue's order, not the payload's.
    order = list(ATTRIBUTES.values())
    expected.rows.sort(key=lambda row: order.index(row[2]))
    return entity, expected


@st.composite
def gateway(draw: st.DrawFn, gateway_id: str) -> tuple[object, Expected]:
    children = sorted(d for d, info in DEVICES.items() if info.gateway_id == gateway_id)
    payload: dict[str, object] = {}
    expected = Expected()
    for child in draw(st.lists(st.sampled_from(children), min_size=1, unique=True)):
        readings, wanted = draw(native(child))
        payload[child] = readings
        expected.rows.extend(wanted.rows)
        expected.personal.extend(wanted.personal)
    return payload, expected
