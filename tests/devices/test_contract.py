"""The device contract: generated files match the catalogue and agree with ingest's validation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from jsonschema import Draft202012Validator

from devices.contract import MAX_READINGS_PER_MESSAGE, kind_schema
from devices.contract_asyncapi import REJECTION_CODES
from devices.contract_files import ASYNCAPI_FILE, contract_root, drift, generate, write
from devices.sdk import MAX_READINGS_PER_MESSAGE as SDK_MAX
from hub.catalogue import load_catalogue, parse_catalogue
from hub.pseudonym import PseudonymKeys
from ingest import validate
from ingest.messages import DEAD_LETTER_CODES, Incoming
from ingest.pipeline import Planner, decode
from ingest.validate import DeviceInfo, TimeWindow, Validator

CATALOGUE = load_catalogue()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WINDOW = TimeWindow.around(NOW, timedelta(days=90))
MS = int(NOW.timestamp() * 1000)
ISO = "2026-11-23T11:59:00Z"
KEYS = PseudonymKeys(1, {1: b"k" * 32})
DEVICES = {
    "aq-1": DeviceInfo("air_quality", True, None),
    "meter-1": DeviceInfo("smart_meter", True, None),
    "cam-1": DeviceInfo("cctv", True, None),
    "gw-1": DeviceInfo("gateway", True, None),
    "aq-behind": DeviceInfo("air_quality", True, "gw-1"),
    "meter-behind": DeviceInfo("smart_meter", True, "gw-1"),
}
KIND_OF = {"aq-1": "air_quality", "meter-1": "smart_meter", "cam-1": "cctv", "gw-1": "gateway"}

# (topic, payload, accepted by the hub)
CASES: list[tuple[str, object, bool]] = [
    # telemetry: the three forms, both time formats
    ("cityhub/v1/aq-1/telemetry", {"ts": ISO, "pm10": 41, "pm25": 18.5}, True),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "values": {"pm10": 3.0, "humidity": 55}}, True),
    ("cityhub/v1/aq-1/telemetry", [{"ts": MS, "pm10": 1}, {"ts": MS + 1000, "pm10": 2}], True),
    ("cityhub/v1/aq-1/telemetry", {"ts": "2026-11-23T20:59:30+09:00", "so2": 0.004}, True),
    ("cityhub/v1/aq-1/telemetry", {"ts": "2026-11-23T11:59:00.123+00:00", "temperature": -3.25}, True),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "pm10": 0, "humidity": 100}, True),
    ("cityhub/v1/meter-1/telemetry", {"ts": MS, "energy_kwh": 1234.5, "household_id": "H-42"}, True),
    ("cityhub/v1/meter-1/telemetry", {"ts": MS, "values": {"power_kw": 1.5, "household_id": 42}}, True),
    ("cityhub/v1/cam-1/telemetry", {"ts": MS, "person_count": 12, "zone_name": "gate"}, True),
    # telemetry the hub refuses
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "pm10": 5000}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "pm10": -1}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "humidity": 101}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "pm10": 4, "foo": 1}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "energy_kwh": 4}, False),
    ("cityhub/v1/aq-1/telemetry", {"pm10": 4}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": "2026-11-23T11:59:00", "pm10": 4}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": "yesterday", "pm10": 4}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": True, "pm10": 4}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": -1, "pm10": 4}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": 10_000_000_000_000, "pm10": 4}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "pm10": "41"}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "pm10": True}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS}, False),
    ("cityhub/v1/aq-1/telemetry", [], False),
    ("cityhub/v1/aq-1/telemetry", 42, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "values": [1]}, False),
    ("cityhub/v1/aq-1/telemetry", {"ts": MS, "values": {"pm10": 1, "bar": 2}}, False),
    ("cityhub/v1/aq-1/telemetry", [{"ts": MS + i, "pm10": 1} for i in range(MAX_READINGS_PER_MESSAGE + 1)],
     False),
    ("cityhub/v1/meter-1/telemetry", {"ts": MS, "household_id": "H-42"}, False),
    ("cityhub/v1/meter-1/telemetry", {"ts": MS, "power_kw": 1, "household_id": True}, False),
    ("cityhub/v1/gw-1/telemetry", {"ts": MS, "pm10": 1}, False),
    # events
    ("cityhub/v1/cam-1/events", {"ts": ISO, "type": "illegal_parking", "confidence": 0.93,
                                 "licence_plate": "12가3456", "object_class": "car"}, True),
    ("cityhub/v1/cam-1/events", [{"ts": MS, "type": "crowd", "person_count": 80},
                                 {"ts": MS, "type": "fire", "confidence": 1}], True),
    ("cityhub/v1/cam-1/events", {"ts": MS, "type": "loitering", "confidence": None, "track_id": 7}, True),
    ("cityhub/v1/meter-1/events", {"ts": MS, "type": "power_outage", "household_id": 42}, True),
    ("cityhub/v1/cam-1/events", {"ts": MS, "type": "explosion"}, False),
    ("cityhub/v1/cam-1/events", {"ts": MS}, False),
    ("cityhub/v1/cam-1/events", {"type": "fire"}, False),
    ("cityhub/v1/cam-1/events", {"ts": MS, "type": "fire", "confidence": 1.5}, False),
    ("cityhub/v1/cam-1/events", {"ts": MS, "type": "fire", "confidence": True}, False),
    ("cityhub/v1/cam-1/events", {"ts": MS, "type": "fire", "colour": "red"}, False),
    ("cityhub/v1/cam-1/events", {"ts": MS, "type": "fire", "zone_name": {"a": 1}}, False),
    ("cityhub/v1/cam-1/events", [], False),
    ("cityhub/v1/meter-1/events", {"ts": MS, "type": "fire"}, False),
    ("cityhub/v1/aq-1/events", {"ts": MS, "type": "fire"}, False),
    # gateway
    ("cityhub/v1/gateway/gw-1/telemetry", {"aq-behind": [{"ts": MS, "pm10": 10}],
                                           "meter-behind": {"ts": MS, "power_kw": 1.5}}, True),
    ("cityhub/v1/gateway/gw-1/telemetry", {"aq-behind": {"ts": MS, "values": {"pm25": 3}}}, True),
    ("cityhub/v1/gateway/gw-1/telemetry", {}, False),
    ("cityhub/v1/gateway/gw-1/telemetry", [{"ts": MS, "pm10": 10}], False),
    ("cityhub/v1/gateway/gw-1/telemetry", {"aq-behind": []}, False),
    ("cityhub/v1/gateway/gw-1/telemetry", {"aq-behind": [{"ts": MS, "pm10": 5000}]}, False),
    ("cityhub/v1/gateway/gw-1/telemetry", {"aq-behind": [{"ts": MS, "pm10": 1, "power_kw": 1}]}, False),
    # FIWARE unit codes: each attribute takes its own (hub/fiware_units.py)
    ("cityhub/v1/aq-1/telemetry", {"type": "AirQualityObserved", "dateObserved": ISO,
                                   "temperature": {"type": "Property", "value": 7.5, "unitCode": "CEL"}},
     True),
    ("cityhub/v1/aq-1/telemetry", {"type": "AirQualityObserved", "dateObserved": ISO,
                                   "relativeHumidity": {"type": "Property", "value": 62, "unitCode": "P1"}},
     True),
    ("cityhub/v1/aq-1/telemetry", {"type": "AirQualityObserved", "dateObserved": ISO,
                                   "no2": {"type": "Property", "value": 0.05, "unitCode": "GP"}}, True),
    ("cityhub/v1/aq-1/telemetry", {"type": "AirQualityObserved", "dateObserved": ISO,
                                   "pm25": {"type": "Number", "value": 12,
                                            "metadata": {"unitCode": {"type": "Text", "value": "GQ"}}}},
     True),
    ("cityhub/v1/aq-1/telemetry", {"type": "AirQualityObserved", "dateObserved": ISO,
                                   "pm10": {"type": "Number", "value": 12,
                                            "metadata": {"unitCode": {"type": "Text", "value": "XYZ"}}}},
     False),
    ("cityhub/v1/aq-1/telemetry", {"type": "AirQualityObserved", "dateObserved": ISO,
                                   "pm10": {"type": "Property", "value": 4, "unitCode": "59"}}, False),
    ("cityhub/v1/aq-1/telemetry", {"type": "AirQualityObserved", "dateObserved": ISO,
                                   "temperature": {"type": "Property", "value": 7, "unitCode": "GQ"}},
     False),
]

FIWARE_KEY_VALUES = {
    "id": "urn:ngsi-ld:AirQualityObserved:aq-jung-001", "type": "AirQualityObserved",
    "dateObserved": "2026-11-23T20:59:00+09:00", "pm10": 41, "pm25": 18.5, "no2": 39.5,
    "o3": 58.9, "co": 458, "so2": 7.9, "temperature": 7.5, "relativeHumidity": 0.62,
}
FIWARE_NGSI_V2 = {
    "id": "urn:ngsi-ld:AirQualityObserved:aq-jung-001", "type": "AirQualityObserved",
    "dateObserved": {"type": "DateTime", "value": "2026-11-23T20:59:00+09:00"},
    "pm10": {"type": "Number", "value": 41}, "no2": {"type": "Number", "value": 39.5},
    "relativeHumidity": {"type": "Number", "value": 0.62},
    "address": {"type": "StructuredValue", "value": {"addressLocality": "Jung-gu"}},
}
FIWARE_NGSI_LD = {
    "id": "urn:ngsi-ld:AirQualityObserved:aq-jung-001", "type": "AirQualityObserved",
    "dateObserved": {"type": "Property", "value": {"@type": "DateTime",
                                                   "@value": "2026-11-23T20:59:00+09:00"}},
    "pm10": {"type": "Property", "value": 41, "unitCode": "GQ"},
    "no2": {"type": "Property", "value": 21, "unitCode": "61"},
    "co": {"type": "Property", "value": 0.4, "unitCode": "59"},
    "o3": {"type": "Property", "value": 58.9},
}
FIWARE_BAD: list[object] = [
    {**FIWARE_KEY_VALUES, "relativeHumidity": 62},          # a percentage, not a fraction
    {k: v for k, v in FIWARE_KEY_VALUES.items() if k != "dateObserved"},
    {**FIWARE_KEY_VALUES, "dateObserved": "2026-11-23T20:59:00"},
    {**FIWARE_KEY_VALUES, "pm10": 5000},
    {**FIWARE_KEY_VALUES, "no2": 4000},                       # µg/m³: 2.1 ppm, over 2
    {**FIWARE_NGSI_LD, "no2": {"type": "Property", "value": 21, "unitCode": "XYZ"}},
    [],
]


def schemas() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in generate(CATALOGUE).items() if name.endswith(".json")}


def schema_for(topic: str) -> dict[str, Any] | None:
    """The schema a payload on *topic* must satisfy; None if the kind has no such message."""
    parts = topic.split("/")
    if parts[2] == "gateway":
        return kind_schema(CATALOGUE.kind("gateway"), CATALOGUE)
    schema = kind_schema(CATALOGUE.kind(KIND_OF[parts[2]]), CATALOGUE)
    if parts[3] == "telemetry":
        return schema if "not" not in schema else None
    if "events" not in schema["$defs"]:
        return None
    return {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/events"}


def schema_accepts(topic: str, payload: object) -> bool:
    schema = schema_for(topic)
    return schema is not None and Draft202012Validator(schema).is_valid(payload)


def hub_accepts(topic: str, payload: object) -> bool:
    planner = Planner(Validator(CATALOGUE, KEYS), CATALOGUE.personal_fields, KEYS)
    message = Incoming(topic, msgspec.json.encode(payload), 1, 1, NOW.timestamp())
    plan = planner.plan([decode(message)], DEVICES, WINDOW)
    # Accepted without a word: a FIWARE entity may be kept in part with a rejection.
    return plan.accepted == 1 and not plan.dead_letters


def test_the_committed_contract_is_what_the_catalogue_generates() -> None:
    assert drift(contract_root(), generate(CATALOGUE)) == [], "run `cityhub contract write`"


def test_a_catalogue_change_is_reported_as_drift(tmp_path: Path) -> None:
    write(tmp_path, generate(CATALOGUE))
    assert drift(tmp_path, generate(CATALOGUE)) == []
    spec = json.loads(json.dumps(CATALOGUE.specs))
    spec["air_quality"]["metrics"]["pm10"]["max"] = 3000
    spec["noise"] = {"title": "Noise meter", "metrics": {"laeq": {"unit": "dB(A)", "min": 0, "max": 140}}}
    changed = drift(tmp_path, generate(parse_catalogue(spec)))
    assert changed == ["schemas/air_quality.json", "schemas/gateway.json", "schemas/noise.json",
                       ASYNCAPI_FILE]
    write(tmp_path, generate(parse_catalogue(spec)))
    noise = json.loads((tmp_path / "schemas/noise.json").read_text(encoding="utf-8"))
    assert noise["$defs"]["metrics"]["laeq"] == {
        "type": "number", "minimum": 0, "maximum": 140, "x-unit": "dB(A)"}


def test_contract_check_fails_on_a_hand_edited_schema(tmp_path: Path) -> None:
    write(tmp_path, generate(CATALOGUE))
    path = tmp_path / "schemas/cctv.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"fire"', '"flood"'), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "hub", "contract", "check", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert "schemas/cctv.json" in result.stderr
    assert "cityhub contract write" in result.stderr


def test_every_schema_is_valid_draft_2020_12() -> None:
    for name, schema in schemas().items():
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name


def test_limits_agree_with_ingest_and_the_sdk() -> None:
    assert MAX_READINGS_PER_MESSAGE == validate.MAX_READINGS_PER_MESSAGE == SDK_MAX


def test_metric_ranges_and_units_come_from_the_catalogue() -> None:
    metrics = schemas()["schemas/air_quality.json"]["$defs"]["metrics"]
    assert metrics["pm10"] == {"type": "number", "minimum": 0, "maximum": 2000, "x-unit": "µg/m³",
                               "description": "PM10 in µg/m³"}
    assert metrics["o3"]["maximum"] == 1
    assert metrics["o3"]["x-unit"] == "ppm"
    meter = schemas()["schemas/smart_meter.json"]
    assert meter["$defs"]["fields"]["household_id"]["x-personal"] is True
    assert meter["$defs"]["event"]["properties"]["type"]["enum"] == ["power_outage", "tamper"]


@pytest.mark.parametrize(("topic", "payload", "accepted"), CASES,
                         ids=[f"{i}-{t.split('/')[-1]}-{'ok' if a else 'bad'}"
                              for i, (t, _, a) in enumerate(CASES)])
def test_schema_and_hub_agree(topic: str, payload: object, accepted: bool) -> None:
    assert hub_accepts(topic, payload) is accepted, "ingest changed: update the cases and the contract"
    assert schema_accepts(topic, payload) is accepted


@pytest.mark.parametrize("payload", [FIWARE_KEY_VALUES, FIWARE_NGSI_V2, FIWARE_NGSI_LD,
                                     [FIWARE_KEY_VALUES, FIWARE_NGSI_V2]],
                         ids=["key-values", "ngsi-v2", "ngsi-ld", "array"])
def test_the_air_quality_schema_takes_fiware_air_quality_observed(payload: object) -> None:
    assert schema_accepts("cityhub/v1/aq-1/telemetry", payload)
    assert not schema_accepts("cityhub/v1/meter-1/telemetry", payload)


@pytest.mark.parametrize("payload", FIWARE_BAD)
def test_the_schema_refuses_bad_fiware_payloads(payload: object) -> None:
    assert not schema_accepts("cityhub/v1/aq-1/telemetry", payload)


@pytest.mark.parametrize("payload", [FIWARE_KEY_VALUES, FIWARE_NGSI_V2, FIWARE_NGSI_LD])
def test_the_hub_takes_fiware_air_quality_observed(payload: object) -> None:
    assert hub_accepts("cityhub/v1/aq-1/telemetry", payload)


@pytest.mark.parametrize("payload", FIWARE_BAD)
def test_the_hub_refuses_bad_fiware_payloads(payload: object) -> None:
    assert not hub_accepts("cityhub/v1/aq-1/telemetry", payload)


# -- the AsyncAPI document ------------------------------------------------------------------

def asyncapi() -> dict[str, Any]:
    document = yaml.safe_load((contract_root() / ASYNCAPI_FILE).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def resolve(document: dict[str, Any], ref: str) -> Any:
    """Follow a local '#/…' or file './schemas/x.json#/…' reference; KeyError if it dangles."""
    file_part, _, pointer = ref.partition("#")
    node: Any = document
    if file_part:
        node = json.loads((contract_root() / file_part).read_text(encoding="utf-8"))
    for step in filter(None, pointer.split("/")):
        node = node[step.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_asyncapi_has_the_required_structure() -> None:
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    addresses = {name: channel["address"] for name, channel in doc["channels"].items()}
    assert addresses == {
        "telemetry": "cityhub/v1/{device_id}/telemetry", "events": "cityhub/v1/{device_id}/events",
        "status": "cityhub/v1/{device_id}/status", "errors": "cityhub/v1/{device_id}/errors",
        "gatewayTelemetry": "cityhub/v1/gateway/{gateway_id}/telemetry",
    }
    for name, channel in doc["channels"].items():
        for parameter in re.findall(r"{(\w+)}", channel["address"]):
            assert parameter in channel["parameters"], name
    actions = {}
    for name, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        channel = resolve(doc, operation["channel"]["$ref"])
        assert operation["bindings"]["mqtt"]["qos"] == 1, name
        for message in operation["messages"]:
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            assert resolve(doc, message["$ref"]) in channel["messages"].values()
        actions[channel["address"].rsplit("/", 1)[1]] = operation["action"]
    assert actions == {"telemetry": "send", "events": "send", "status": "send", "errors": "receive"}
    assert doc["operations"]["sendStatus"]["bindings"]["mqtt"]["retain"] is True
    assert doc["components"]["messages"]


def test_asyncapi_security_and_last_will() -> None:
    doc = asyncapi()
    server = doc["servers"]["city"]
    assert server["protocol"] == "mqtt"
    scheme = resolve(doc, server["security"][0]["$ref"])
    assert scheme["type"] == "userPassword"
    assert server["bindings"]["mqtt"]["lastWill"] == {
        "topic": "cityhub/v1/{device_id}/status", "qos": 1, "message": "offline", "retain": True}


def test_every_reference_in_asyncapi_resolves() -> None:
    doc = asyncapi()
    found = refs(doc)
    assert any(r.startswith("./schemas/") for r in found)
    for ref in found:
        resolve(doc, ref)  # KeyError or FileNotFoundError when it dangles


def test_asyncapi_has_a_telemetry_message_per_kind_with_metrics() -> None:
    doc = asyncapi()
    payload_files = {m["payload"]["schema"]["$ref"] for m in doc["components"]["messages"].values()
                     if "schema" in m["payload"]}
    for name, kind in CATALOGUE.kinds.items():
        if kind.metrics:
            assert f"./schemas/{name}.json" in payload_files
        if kind.events:
            assert f"./schemas/{name}.json#/$defs/events" in payload_files


def test_the_examples_in_asyncapi_satisfy_their_payload_schemas() -> None:
    doc = asyncapi()
    checked = 0
    for name, message in doc["components"]["messages"].items():
        payload = message["payload"]
        if "schema" in payload:
            file_part, _, pointer = payload["schema"]["$ref"].partition("#")
            root = json.loads((contract_root() / file_part).read_text(encoding="utf-8"))
            schema = {k: v for k, v in root.items() if k not in ("$ref", "oneOf", "not")}
            schema["$ref"] = "#" + pointer
        else:
            schema = {k: v for k, v in payload.items() if k != "examples"}
        examples = [e["payload"] for e in message.get("examples", [])] + payload.get("examples", [])
        for example in examples:
            assert Draft202012Validator(schema).is_valid(example), name
            checked += 1
    assert checked >= 2


def test_the_asyncapi_document_names_every_code_a_dead_letter_can_carry() -> None:
    assert sorted(REJECTION_CODES) == sorted(DEAD_LETTER_CODES)
