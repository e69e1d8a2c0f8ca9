"""running.json: what a running `cityhub up` tells the other commands (pure: files only)."""

from __future__ import annotations

from pathlib import Path

from hub.cli.common import running_broker, running_services, write_running
from hub.embedded import EmbeddedBroker
from hub.settings import load_settings


def test_the_embedded_broker_is_found_through_running_json(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "broker")
    write_running(tmp_path, database_url="postgresql://h/db", mqtt_url="mqtt://h:1", broker=broker,
                  pid=42)
    current = load_settings({"CITYHUB_STATE_DIR": str(tmp_path)})
    assert running_broker(current) == (tmp_path / "broker", tmp_path / "broker" / "mosquitto.pid")
    assert running_services(current)["pid"] == 42


def test_no_broker_without_an_embedded_one(tmp_path: Path) -> None:
    write_running(tmp_path, database_url="postgresql://h/db", mqtt_url="mqtt://h:1")
    assert running_broker(load_settings({"CITYHUB_STATE_DIR": str(tmp_path)})) is None


def test_no_broker_without_a_running_hub(tmp_path: Path) -> None:
    assert running_broker(load_settings({"CITYHUB_STATE_DIR": str(tmp_path)})) is None
