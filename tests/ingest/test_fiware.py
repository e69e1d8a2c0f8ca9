"""FIWARE AirQualityObserved entities are accepted as air-quality readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.catalogue import Catalogue
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, new_device, rows
from tests.ingest.test_units import NOW, plan_one
from tests.mqtt_client import device
from tests.waiting import wait_for

ISO = NOW.isoformat()
TOPIC = "cityhub/v1/aq-1/telemetry"


def _values(payload: object) -> dict[str, float]:
    plan = plan_one(TOPIC, payload)
    assert plan.dead_letters == [], plan.dead_letters
    assert {ts for ts, *_ in plan.readings} == {NOW}
    return {metric: value for _, _, metric, value in plan.readings}


def test_key_values_entity_becomes_readings_and_humidity_a_percentage() -> None:
    # Without a unitCode gases are µg/m³, as in the data model's examples: at 25 °C,
    # 94.1 µg/m³ of NO2, 98.2 of O3, 1145.6 of CO and 131 of SO2 are 0.05, 0.05, 1 and 0.05 ppm.
    entity = {
        "id": "urn:ngsi-ld:AirQualityObserved:aq-1", "type": "AirQualityObserved",
        "dateObserved": ISO, "pm10": 41, "pm25": 18.5, "no2": 94.1, "o3": 98.2, "co": 1145.6,
        "so2": 131, "temperature": 7.5, "relativeHumidity": 0.62,
        "address": {"addressLocality": "Seoul"}, "airQualityIndex": 45, "reliability": 0.9,
    }
    assert _values(entity) == {
        "pm10": 41.0, "pm25": 18.5, "no2": pytest.approx(0.05, abs=0.0005),
        "o3": pytest.approx(0.05, abs=0.0005), "co": pytest.approx(1.0, abs=0.001),
        "so2": pytest.approx(0.05, abs=0.0005), "temperature": 7.5, "humidity": pytest.approx(62.0),
    }


def test_ngsi_ld_normalized_entity_with_units_is_converted() -> None:
    entity = {
        "id": "urn:ngsi-ld:AirQualityObserved:aq-1", "type": "AirQualityObserved",
        "dateObserved": {"type": "Property", "value": {"@type": "DateTime", "@value": ISO}},
        "pm10": {"type": "Property", "value": 41, "unitCode": "GQ"},
        # 94.1 µg/m³ of NO2 is 0.05 ppm at 25 °C; 30 ppb of O3 is 0.03 ppm.
        "no2": {"type": "Property", "value": 94.1, "unitCode": "GQ"},
        "o3": {"type": "Property", "value": 30, "unitCode": "61"},
        "co": {"type": "Property", "value": 0.5, "unitCode": "59"},
        "relativeHumidity": {"type": "Property", "value": 55, "unitCode": "P1"},
    }
    values = _values(entity)
    assert values["pm10"] == 41.0
    assert values["no2"] == pytest.approx(0.05, abs=0.0005)
    assert values["o3"] == pytest.approx(0.03)
    assert values["co"] == 0.5
    assert values["humidity"] == 55.0


def test_ngsi_v2_normalized_array_is_accepted() -> None:
    later = (NOW - timedelta(minutes=1)).isoformat()
    entities = [
        {"type": "AirQualityObserved", "dateObserved": {"type": "DateTime", "value": later},
         "pm25": {"type": "Number", "value": 12,
                  "metadata": {"unitCode": {"type": "Text", "value": "GQ"}}}},
        {"type": "AirQualityObserved", "dateObserved": ISO, "pm25": 13},
    ]
    plan = plan_one(TOPIC, entities)
    assert [(ts, value) for ts, _, _, value in plan.readings] == [
        (NOW - timedelta(minutes=1), 12.0), (NOW, 13.0)]


@pytest.mark.parametrize(("entity", "code"), [
    ({"type": "AirQualityObserved", "pm10": 1}, "bad_timestamp"),
    ({"type": "AirQualityObserved", "dateObserved": ISO, "pm10": {"type": "Property", "value": 1,
                                                                  "unitCode": "KGM"}}, "bad_unit"),
    ({"type": "AirQualityObserved", "dateObserved": ISO, "pm10": "high"}, "bad_value"),
    ({"type": "AirQualityObserved", "dateObserved": ISO, "pm10": 5000}, "out_of_range"),
    ({"type": "AirQualityObserved", "dateObserved": ISO, "address": "Seoul"}, "bad_payload"),
])
def test_bad_entities_are_rejected_with_a_reason(entity: object, code: str) -> None:
    plan = plan_one(TOPIC, entity)
    assert plan.readings == []
    assert [d.code for d in plan.dead_letters] == [code]


def test_an_entity_from_a_smart_meter_is_the_wrong_kind() -> None:
    plan = plan_one("cityhub/v1/meter-1/telemetry",
                    {"type": "AirQualityObserved", "dateObserved": ISO, "pm10": 3})
    assert [d.code for d in plan.dead_letters] == ["wrong_kind"]


@pytest.mark.integration
def test_a_station_speaking_fiware_is_stored_unchanged(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess
) -> None:
    station = new_device(db, catalogue, "air_quality")
    observed = (datetime.now(UTC) - timedelta(seconds=10)).isoformat()
    with device(broker) as client:
        client.publish(f"cityhub/v1/{station}/telemetry", {
            "id": f"urn:ngsi-ld:AirQualityObserved:{station}", "type": "AirQualityObserved",
            "dateObserved": observed, "pm10": 88, "relativeHumidity": 0.4,
        })
    stored = wait_for(lambda: rows(db, station) if len(rows(db, station)) == 2 else None,
                      what="two stored readings")
    assert sorted(stored) == [("humidity", 40.0), ("pm10", 88.0)]
