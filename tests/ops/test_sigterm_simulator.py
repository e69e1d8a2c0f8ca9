"""SIGTERM drains the device simulator: it stops publishing, announces its devices offline
and waits for the broker's acknowledgement of everything it sent, then exits with 0."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tests.fix_mqtt import Broker
from tests.mqtt_client import device
from tests.ops.service_process import ServiceProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def test_sigterm_stops_publishing_waits_for_every_puback_and_exits_0(
    broker: Broker, tmp_path: Path,
) -> None:
    stats_file = tmp_path / "stats.json"
    seed = str(secrets.randbelow(10**6))
    with device(broker) as watcher:
        watcher.subscribe("cityhub/v1/+/status")
        watcher.subscribe("cityhub/v1/+/telemetry")
        service = ServiceProcess(
            ["simulate", "--mqtt-url", broker.url, "--air-quality", "4", "--seed", seed,
             "--rate", "200", "--stats-file", str(stats_file),
             "--ground-truth", str(tmp_path / "truth.jsonl")],
            {"CITYHUB_STATE_DIR": str(tmp_path)}, tmp_path / "simulate.log")
        try:
            wait_for(lambda: sum(t.endswith("/telemetry") for t, _ in watcher.received) >= 50
                     or service.process.poll() is not None, timeout=60, what="readings published")
            assert service.process.poll() is None, service.text()[-3000:]
            service.terminate()
            assert service.wait(30) == 0, service.text()[-3000:]
        finally:
            service.kill()
        stats = json.loads(stats_file.read_text())
        assert stats["sent"] == stats["acked"] > 50  # every message it sent was acknowledged
        assert stats["error"] == ""
        devices = {t.split("/")[2] for t, _ in watcher.received if t.endswith("/telemetry")}
        assert len(devices) == 4
    # Its last words: each device announced offline (retained), the broker acknowledging them.
    # A new subscriber reads the broker's retained state, so a watcher that fell behind the
    # telemetry stream on a loaded machine cannot hide or fake the outcome.
    with device(broker) as reader:
        reader.subscribe("cityhub/v1/+/status")
        wait_for(lambda: {t.split("/")[2]: p for t, p in list(reader.received)
                          if t.split("/")[2] in devices} == dict.fromkeys(devices, b"offline"),
                 what="every device's retained status to be offline")
