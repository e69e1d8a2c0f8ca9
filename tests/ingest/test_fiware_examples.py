"""The Smart Data Models project's own AirQualityObserved examples, as published in
dataModel.Environment (AirQualityObserved/examples/example.jsonld, key-values, and
examples/example-normalized.json, NGSI v2), with only dateObserved refreshed, are
read by the data model's conventions: a bare pollutant is µg/m³, and one attribute the
hub cannot take is refused alone."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from hub.catalogue import load_catalogue
from hub.fiware_units import STORED_UNITS, UNITLESS, UNITS
from hub.pseudonym import PseudonymKeys
from ingest.messages import Incoming
from ingest.pipeline import BatchPlan, Planner, decode
from ingest.validate import DeviceInfo, TimeWindow, Validator
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, dead_letters, new_device, rows
from tests.mqtt_client import device
from tests.waiting import wait_for

KEY_VALUES: dict[str, Any] = {
    "id": "urn:ngsi-ld:AirQualityObserved:Madrid-AmbientObserved-28079004-2016-03-15T11:00:00",
    "type": "AirQualityObserved",
    "co": 500, "coLevel": "moderate", "no": 45, "no2": 69, "nox": 139, "so2": 11,
    "address": {"addressCountry": "ES", "addressLocality": "Madrid",
                "streetAddress": "Plaza de España", "type": "PostalAddress"},
    "airQualityIndex": 65, "airQualityLevel": "moderate", "areaServed": "Brooklands",
    "dateObserved": "2016-03-15T11:00:00",
    "location": {"coordinates": [-3.712247222222222, 40.423852777777775], "type": "Point"},
    "precipitation": 0, "refPointOfInterest": "urn:ngsi-ld:PointOfInterest:28079004-Pza.deEspanya",
    "relativeHumidity": 0.54, "reliability": 0.7, "source": "http://datos.madrid.es",
    "temperature": 12.2, "typeOfLocation": "outdoor", "tsp": 73, "windDirection": 180,
    "windSpeed": 0.64,
    "@context": ["https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/"
                 "master/context.jsonld"],
}


def _number(value: float, unit: str | None = None) -> dict[str, Any]:
    attribute: dict[str, Any] = {"type": "Number", "value": value}
    if unit is not None:
        attribute["metadata"] = {"unitCode": {"value": unit}}
    return attribute


def _text(value: str) -> dict[str, str]:
    return {"type": "Text", "value": value}


NORMALIZED: dict[str, Any] = {
    "id": "Madrid-AmbientObserved-28079004-2016-03-15T11:00:00",
    "type": "AirQualityObserved",
    "dateObserved": {"type": "DateTime", "value": "2016-03-15T11:00:00"},
    "areaServed": _text("Brooklands"), "airQualityLevel": _text("moderate"),
    "co": _number(500, "GP"), "temperature": _number(12.2), "no": _number(45, "GQ"),
    "refPointOfInterest": _text("28079004-Pza.deEspanya"), "windDirection": _number(176),
    "source": _text("http://datos.madrid.es"), "windSpeed": _number(0.64),
    "so2": _number(11, "GQ"), "nox": _number(139, "GQ"),
    "location": {"type": "geo:json",
                 "value": {"type": "Point", "coordinates": [-3.712247222222222, 40.423852777777775]}},
    "typeOfLocation": _text("outdoor"), "airQualityIndex": _number(65),
    "address": {"type": "StructuredValue",
                "value": {"addressCountry": "ES", "addressLocality": "Madrid",
                          "streetAddress": "Plaza de España"}},
    "reliability": _number(0.7), "relativeHumidity": _number(0.54), "precipitation": _number(0),
    "no2": _number(69, "GQ"), "coLevel": _text("moderate"), "pm4": _number(37),
    "tpc": _number(108), "tsp": _number(73), "pressure": _number(1.1), "charge": _number(5),
}

# ppm = µg/m³ × 24.45 / (g/mol × 1000), at 25 °C and 1 atm:
# CO 500 × 24.45 / 28010.1; NO2 69 × 24.45 / 46005.5; SO2 11 × 24.45 / 64066.
CO_500_UG = 0.43645
NO2_69_UG = 0.036671
SO2_11_UG = 0.0041980


def refreshed(example: dict[str, Any], when: datetime) -> dict[str, Any]:
    """The example with dateObserved at *when*, written with its offset (RFC 3339)."""
    entity = copy.deepcopy(example)
    stamp = when.isoformat()
    if isinstance(entity["dateObserved"], dict):
        entity["dateObserved"]["value"] = stamp
    else:
        entity["dateObserved"] = stamp
    return entity


# -- the conversions ---------------------------------------------------------------------

@pytest.mark.parametrize(("metric", "micrograms", "ppm"), [
    ("no2", 69, NO2_69_UG), ("so2", 11, SO2_11_UG), ("co", 500, CO_500_UG),
    ("no2", 1.5, 0.00079719), ("o3", 100, 0.050939),
])
def test_a_bare_gas_is_micrograms_per_cubic_metre_converted_to_ppm(
    metric: str, micrograms: float, ppm: float
) -> None:
    assert UNITLESS[metric].convert(micrograms) == pytest.approx(ppm, rel=1e-4)
    assert UNITLESS[metric].convert(micrograms) == UNITS[metric]["GQ"].convert(micrograms)


def test_unit_codes_convert_to_the_stored_unit() -> None:
    assert UNITS["co"]["GP"].convert(500) == pytest.approx(436.45, rel=1e-4)  # mg/m³
    assert UNITS["no2"]["61"].convert(21) == pytest.approx(0.021)            # ppb
    assert UNITS["no2"]["59"].convert(0.021) == 0.021                        # ppm
    assert UNITS["pm10"]["GP"].convert(0.041) == pytest.approx(41)           # mg/m³ -> µg/m³
    assert UNITLESS["pm10"].convert(41) == 41
    assert UNITLESS["temperature"].convert(12.2) == 12.2
    assert UNITLESS["humidity"].convert(0.54) == pytest.approx(54)


def test_the_stored_units_are_the_catalogue_s() -> None:
    metrics = load_catalogue().kind("air_quality").metrics
    assert {name: metric.unit for name, metric in metrics.items()} == STORED_UNITS


# -- planned (no broker) -----------------------------------------------------------------

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
KEYS = PseudonymKeys(1, {1: b"k" * 32})
CATALOGUE = load_catalogue()
DEVICES = {"aq-1": DeviceInfo("air_quality", True, None)}


def _plan(payload: object) -> BatchPlan:
    planner = Planner(Validator(CATALOGUE, KEYS), CATALOGUE.personal_fields, KEYS)
    message = Incoming("cityhub/v1/aq-1/telemetry", msgspec.json.encode(payload), 1, 1,
                       NOW.timestamp())
    return planner.plan([decode(message)], DEVICES, TimeWindow.around(NOW, timedelta(days=90)))


def test_a_small_bare_no2_is_not_taken_for_ppm() -> None:
    plan = _plan({"type": "AirQualityObserved", "dateObserved": NOW.isoformat(), "no2": 1.5})
    [(_, _, metric, value)] = plan.readings
    assert metric == "no2"
    assert value == pytest.approx(0.00079719, rel=1e-4)  # not 1.5 ppm, a thousand times more


def test_every_bad_attribute_is_named_and_the_rest_is_kept() -> None:
    plan = _plan({"type": "AirQualityObserved", "dateObserved": NOW.isoformat(), "pm10": 41,
                  "relativeHumidity": 62, "o3": {"type": "Property", "value": 1, "unitCode": "KGM"}})
    assert [(m, v) for _, _, m, v in plan.readings] == [("pm10", 41.0)]
    assert plan.accepted == 1
    [letter] = plan.dead_letters
    assert letter.code == "bad_unit"  # the first refused, in the order of hub/fiware_units.py
    assert "relativeHumidity=62 is 6200 % of humidity, outside the valid range 0..100 %" in letter.reason
    assert "unitCode 'KGM' is not supported for o3" in letter.reason


def test_an_entity_with_nothing_left_is_refused_whole() -> None:
    plan = _plan({"type": "AirQualityObserved", "dateObserved": NOW.isoformat(),
                  "co": {"type": "Property", "value": 500, "unitCode": "GP"}})
    assert plan.readings == []
    assert plan.accepted == 0
    assert [d.code for d in plan.dead_letters] == ["out_of_range"]


def test_the_examples_as_published_lack_an_offset_and_are_refused() -> None:
    for example in (KEY_VALUES, NORMALIZED):
        assert [d.code for d in _plan(example).dead_letters] == ["bad_timestamp"]


# -- through the real hub ----------------------------------------------------------------

@pytest.mark.integration
def test_the_key_values_example_is_stored_in_the_hub_s_units(
    db: Conn, catalogue: Any, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    entity = refreshed(KEY_VALUES, datetime.now(UTC) - timedelta(seconds=30))
    with device(broker) as client:
        client.subscribe(f"cityhub/v1/{station}/errors")
        client.publish(f"cityhub/v1/{station}/telemetry", entity)
        stored = wait_for(lambda: r if len(r := rows(db, station)) == 5 else None,
                          what="five readings")
        assert client.replies() == []
    assert dict(stored) == {  # type: ignore[arg-type]
        "co": pytest.approx(CO_500_UG, rel=1e-4), "no2": pytest.approx(NO2_69_UG, rel=1e-4),
        "so2": pytest.approx(SO2_11_UG, rel=1e-4), "temperature": 12.2,
        "humidity": pytest.approx(54.0),
    }
    assert dead_letters(db, station) == []


@pytest.mark.integration
def test_the_normalized_example_is_stored_but_its_impossible_co_refused_alone(
    db: Conn, catalogue: Any, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    entity = refreshed(NORMALIZED, datetime.now(UTC) - timedelta(seconds=30))
    with device(broker) as client:
        client.subscribe(f"cityhub/v1/{station}/errors")
        client.publish(f"cityhub/v1/{station}/telemetry", entity)
        replies = wait_for(client.replies, what="a reply naming the refused attribute")
        stored = wait_for(lambda: r if len(r := rows(db, station)) == 4 else None,
                          what="four readings")
    assert dict(stored) == {  # type: ignore[arg-type]
        "no2": pytest.approx(NO2_69_UG, rel=1e-4), "so2": pytest.approx(SO2_11_UG, rel=1e-4),
        "temperature": 12.2, "humidity": pytest.approx(54.0),
    }
    [(_, reply)] = replies
    assert reply["code"] == "out_of_range"
    assert reply["reason"].startswith("co=500 (GP) is 436.45 ppm, outside the valid range 0..100 ppm")
    [(code, reason, _)] = dead_letters(db, station)
    assert code == "out_of_range"
    assert str(reason).startswith("co=500 (GP)")
