"""Dead letters can be listed and replayed once the cause is fixed."""

from __future__ import annotations

import json
import secrets

import pytest
from typer.testing import CliRunner

from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.registry import add_device
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, count, now_ms, rows
from tests.mqtt_client import device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def test_a_message_from_an_unregistered_device_is_stored_after_registration_and_replay(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess, database_url: str,
    key_file: object,
) -> None:
    late = f"t-late-{secrets.token_hex(3)}"
    with device(broker) as client:
        client.publish(f"cityhub/v1/{late}/telemetry", {"ts": now_ms(), "pm10": 33.0})
    wait_for(lambda: count(db, "SELECT count(*) FROM hub.dead_letters WHERE device_id = %s", late),
             what="the dead letter")
    _plugins()
    runner = CliRunner()
    env = {"CITYHUB_DATABASE_URL": database_url, "CITYHUB_PSEUDONYM_KEY_FILE": str(key_file)}
    listed = runner.invoke(app, ["ingest", "rejects", "--json", "--device", late], env=env)
    assert listed.exit_code == 0, listed.output
    entries = [json.loads(line) for line in listed.output.splitlines() if line.startswith("{")]
    assert [(e["device_id"], e["reason_code"]) for e in entries] == [(late, "unknown_device")]

    add_device(db, catalogue, late, "air_quality")
    replayed = runner.invoke(app, ["ingest", "replay", "--device", late], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "stored 1" in replayed.output
    assert rows(db, late) == [("pm10", 33.0)]
    assert count(db, "SELECT count(*) FROM hub.dead_letters WHERE device_id = %s "
                 "AND replayed_at IS NULL", late) == 0
