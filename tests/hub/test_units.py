"""Pure logic of hub/: settings, catalogue, timestamps, pseudonyms, device ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.catalogue import load_catalogue, parse_catalogue
from hub.errors import CatalogueError, ConfigError, InvalidInput, PseudonymKeyError
from hub.pseudonym import ensure_keys, is_pseudonym, load_keys, rotate_keys
from hub.registry import validate_device_id
from hub.settings import load_settings
from hub.timeparse import BadTimestamp, parse_ts


def test_settings_come_from_the_given_environment_only() -> None:
    s = load_settings({"CITYHUB_HTTP_PORT": "9000", "CITYHUB_MQTT_URL": "mqtt://u:p%40w@broker:1884"})
    assert s.http_port == 9000
    target = s.mqtt_target()
    assert (target.host, target.port, target.username, target.password) == ("broker", 1884, "u", "p@w")


@pytest.mark.parametrize(("env", "named"), [
    ({"CITYHUB_HTTP_PORT": "seventy"}, "CITYHUB_HTTP_PORT"),
    ({"CITYHUB_DATABASE_URL": "mysql://x"}, "CITYHUB_DATABASE_URL"),
    ({"CITYHUB_MQTT_URL": "http://x"}, "CITYHUB_MQTT_URL"),
    ({"CITYHUB_OPS_TIMEZONE": "Asia/Nowhere"}, "CITYHUB_OPS_TIMEZONE"),
])
def test_bad_settings_stop_with_the_variable_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


@pytest.mark.parametrize("secret", ["", "changeme", "secret", "short"])
def test_services_refuse_empty_or_default_secrets_outside_demo(secret: str) -> None:
    with pytest.raises(ConfigError, match="CITYHUB_SECRET_KEY"):
        load_settings({"CITYHUB_SECRET_KEY": secret}).require_service_secret()
    load_settings({"CITYHUB_SECRET_KEY": secret, "CITYHUB_DEMO": "1"}).require_service_secret()


def test_a_random_secret_is_accepted() -> None:
    load_settings({"CITYHUB_SECRET_KEY": "k3J9-vQ2mX8pL4sT7wZ1"}).require_service_secret()


def test_the_shipped_catalogue_has_the_kinds_units_and_personal_fields() -> None:
    catalogue = load_catalogue()
    air = catalogue.kind("air_quality")
    assert set(air.metrics) == {"pm10", "pm25", "o3", "no2", "co", "so2", "temperature", "humidity"}
    assert air.metrics["pm25"].unit == "µg/m³"
    assert air.metrics["o3"].unit == "ppm"
    assert catalogue.kind("smart_meter").personal_fields == {"household_id"}
    assert "licence_plate" in catalogue.kind("cctv").personal_fields
    assert catalogue.kind("smart_meter").metrics["energy_kwh"].cumulative


def test_a_new_kind_is_data_not_code(tmp_path: Path) -> None:
    path = tmp_path / "kinds.json"
    path.write_text(json.dumps({"water_level": {"metrics": {
        "level_m": {"unit": "m", "min": -5, "max": 30}}}}), encoding="utf-8")
    kind = load_catalogue(path).kind("water_level")
    assert kind.metrics["level_m"].accepts(2.5)
    assert not kind.metrics["level_m"].accepts(31)


@pytest.mark.parametrize("document", [
    {"k": {"metrics": {"m": {"unit": "x", "min": 5, "max": 1}}}},
    {"k": {"metrics": {"m": {"min": 0, "max": 1}}}},
    {"k": {"events": {"e": {"severity": "apocalyptic"}}}},
    {},
])
def test_a_malformed_catalogue_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(CatalogueError):
        parse_catalogue(document)


def test_timestamps_in_both_forms_become_utc() -> None:
    assert parse_ts(1_700_000_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert parse_ts("2026-05-01T09:00:00+09:00") == datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    assert parse_ts("2026-05-01T00:00:00Z") == datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize("value", ["2026-05-01T09:00:00", "yesterday", True, None, -1, float("nan")])
def test_unusable_timestamps_are_refused(value: object) -> None:
    with pytest.raises(BadTimestamp):
        parse_ts(value)


def test_pseudonyms_are_keyed_stable_versioned_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys = ensure_keys(path)
    assert path.stat().st_mode & 0o077 == 0
    first = keys.pseudonymise("12가3456")
    assert first == load_keys(path).pseudonymise("12가3456")
    assert is_pseudonym(first)
    assert first.startswith("pn1_")
    assert "12가3456" not in first
    assert keys.pseudonymise(first) == first
    other = ensure_keys(tmp_path / "other.json").pseudonymise("12가3456")
    assert other != first
    rotated = rotate_keys(path)
    assert rotated.pseudonymise("12가3456").startswith("pn2_")
    assert set(rotated.keys) == {1, 2}


def test_a_broken_key_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    with pytest.raises(PseudonymKeyError, match="does not exist"):
        load_keys(path)
    path.write_text('{"current": 3, "keys": {"1": "00"}}')
    with pytest.raises(PseudonymKeyError):
        load_keys(path)


@pytest.mark.parametrize(("bad", "message"), [
    ("a/b", "wildcards or separators"), ("a+b", "wildcards"), ("a#", "wildcards"),
    ("a b", "whitespace"), ("a\tb", "whitespace"), ("a\x00b", "control"), ("", "empty"),
    ("-lead", "start with a letter"), ("gateway", "reserved"), ("cityhub-ingest", "reserved"),
])
def test_device_ids_that_would_break_topics_are_refused(bad: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_device_id(bad)


def test_ordinary_device_ids_are_accepted() -> None:
    for good in ("aq-jung-001", "meter.0001", "cctv:gate_3"):
        assert validate_device_id(good) == good
