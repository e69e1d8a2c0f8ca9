"""The vendor SDK without a network: payload encoding, and that it stands alone."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import devices.sdk
from devices.sdk import Event, HubClient, HubRejected, InvalidPayload, NotConnected, Reading
from devices.sdk.payloads import (
    chunks,
    encode,
    encode_ts,
    event_json,
    events_json,
    gateway_json,
    gateway_topic,
    parse_rejection,
    reading_json,
    topic,
)

SDK_DIR = Path(devices.sdk.__file__).parent
SERVER_PACKAGES = ("hub", "ingest", "analytics", "ops_console")
KST = timezone(timedelta(hours=9))


def test_aware_datetimes_keep_their_offset_and_ints_are_epoch_ms() -> None:
    assert encode_ts(datetime(2026, 11, 23, 19, 0, tzinfo=KST)) == "2026-11-23T19:00:00+09:00"
    assert encode_ts(datetime(2026, 11, 23, 10, 0, tzinfo=UTC)) == "2026-11-23T10:00:00+00:00"
    assert encode_ts(1795395600000) == 1795395600000


@pytest.mark.parametrize("bad", [datetime(2026, 11, 23, 10, 0), True, -5, 1.5e12, "2026-11-23"])
def test_ambiguous_or_wrong_timestamps_are_refused(bad: object) -> None:
    with pytest.raises(InvalidPayload):
        encode_ts(bad)  # type: ignore[arg-type]


def test_a_reading_is_flat_json_with_ts() -> None:
    reading = Reading(1795395600000, {"pm10": 41, "pm25": 18.5})
    assert encode(reading_json(reading)) == b'{"ts":1795395600000,"pm10":41,"pm25":18.5}'


def test_readings_without_values_or_with_reserved_keys_are_refused() -> None:
    with pytest.raises(InvalidPayload, match="at least one"):
        reading_json(Reading(1, {}))
    with pytest.raises(InvalidPayload, match="reserved"):
        reading_json(Reading(1, {"ts": 5, "pm10": 1}))


def test_nan_is_refused_before_sending() -> None:
    with pytest.raises(InvalidPayload, match="finite"):
        encode(reading_json(Reading(1, {"pm10": math.nan})))


def test_long_batches_are_split_at_the_hub_limit() -> None:
    readings = [Reading(i, {"pm10": 1.0}) for i in range(devices.sdk.MAX_READINGS_PER_MESSAGE + 5)]
    parts = chunks(readings)
    assert [len(p) for p in parts] == [devices.sdk.MAX_READINGS_PER_MESSAGE, 5]
    assert parts[1][0] == {"ts": devices.sdk.MAX_READINGS_PER_MESSAGE, "pm10": 1.0}


def test_events_carry_type_confidence_and_attributes() -> None:
    event = Event(5, "illegal_parking", 0.9, {"licence_plate": "12가3456"})
    assert event_json(event) == {"ts": 5, "type": "illegal_parking", "confidence": 0.9,
                                 "licence_plate": "12가3456"}
    with pytest.raises(InvalidPayload):
        event_json(Event(5, "fire", 1.5))


def test_an_empty_event_batch_is_refused_before_sending() -> None:
    with pytest.raises(InvalidPayload, match="no events"):
        events_json([])
    assert events_json([Event(5, "fire")]) == [{"ts": 5, "type": "fire"}]


def test_publishing_before_connect_raises_not_connected() -> None:
    # No broker listens here: the client must refuse at once, not wait for a PUBACK.
    hub = HubClient("aq-1", "token", "127.0.0.1", 9, ack_timeout=30)
    with pytest.raises(NotConnected, match="connect"):
        hub.send_reading({"pm10": 1}, ts=5)
    with pytest.raises(NotConnected):
        hub.send_event(Event(5, "fire"))
    with pytest.raises(InvalidPayload):
        hub.send_events([])
    hub.close()
    with pytest.raises(NotConnected, match="closed"):
        hub.send_reading({"pm10": 1}, ts=5)


def test_gateway_payload_maps_device_ids_to_readings() -> None:
    document = gateway_json({"aq-1": [Reading(5, {"pm10": 1})], "m-1": [Reading(6, {"power_kw": 2})]})
    assert document == {"aq-1": [{"ts": 5, "pm10": 1}], "m-1": [{"ts": 6, "power_kw": 2}]}
    assert gateway_topic("gw-1") == "cityhub/v1/gateway/gw-1/telemetry"
    with pytest.raises(InvalidPayload):
        gateway_json({"aq-1": []})


@pytest.mark.parametrize("device_id", ["", "a/b", "a+", "#"])
def test_device_ids_must_be_one_topic_level(device_id: str) -> None:
    with pytest.raises(InvalidPayload):
        topic(device_id, "telemetry")


def test_the_hubs_reply_becomes_a_rejection_that_says_why() -> None:
    parsed = parse_rejection(b'{"topic":"cityhub/v1/a/telemetry","code":"out_of_range",'
                             b'"reason":"pm10=5000 is outside the valid range 0..2000",'
                             b'"received_at":"2026-11-23T01:00:00+00:00"}')
    assert parsed is not None
    rejection = HubRejected(*parsed)
    assert rejection.code == "out_of_range"
    assert "pm10=5000 is outside the valid range" in str(rejection)
    assert parse_rejection(b"not json") is None
    assert parse_rejection(b'{"code": 1}') is None


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_sdk_imports_only_the_stdlib_paho_and_itself() -> None:
    for path in SDK_DIR.rglob("*.py"):
        outside = {n for n in _imported_modules(path) - {"devices", "paho", "__future__"}
                   if n not in sys.stdlib_module_names}
        assert not outside, f"{path.name} imports {outside}"
    package_init = SDK_DIR.parent / "__init__.py"
    assert not _imported_modules(package_init) & set(SERVER_PACKAGES)


def test_the_sdk_imports_with_the_server_packages_blocked() -> None:
    script = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {SERVER_PACKAGES!r}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from devices.sdk import HubClient\n"
        "HubClient('aq-1', 'token')\n"
        f"assert not [m for m in sys.modules if m.split('.')[0] in {SERVER_PACKAGES!r}]\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
