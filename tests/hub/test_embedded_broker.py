"""The embedded Mosquitto of `cityhub up` enforces the production logins and topic rules,
and the device commands update it while it runs, as `up` leaves it for them: its
directory and pid file in running.json of CITYHUB_STATE_DIR, no `broker config` by hand."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from hub.catalogue import Catalogue
from hub.cli.common import write_running
from hub.cli.main import _plugins, app
from hub.embedded import EmbeddedBroker
from hub.mqtt_access import INGEST_ACCOUNT, SIM_ACCOUNT
from hub.registry import add_device
from tests.fix_mqtt import Broker
from tests.helpers import now_iso
from tests.mqtt_client import logged_in, login
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Up:
    embedded: EmbeddedBroker
    broker: Broker
    tokens: dict[str, str]  # the devices registered before the start: id -> token
    cli_env: Mapping[str, str | None]


@pytest.fixture(scope="module")
def up(database_url: str, catalogue: Catalogue) -> Iterator[Up]:
    """What `cityhub up` does: devices first, then the broker, then running.json."""
    tokens = {}
    with psycopg.connect(database_url) as conn:
        for _ in range(2):
            device_id = f"emb-aq-{secrets.token_hex(3)}"
            tokens[device_id] = add_device(conn, catalogue, device_id, "air_quality").token
    # Not pytest's tmp_path: its 0700 parents would keep the broker's own user out.
    state = Path(tempfile.mkdtemp(prefix="cityhub-up-"))
    state.chmod(0o755)
    embedded = EmbeddedBroker(state / "broker")
    try:
        url = embedded.start(database_url)
        assert url == f"mqtt://127.0.0.1:{embedded.port}"
        write_running(state, database_url=database_url, mqtt_url=url, broker=embedded)
        _plugins()
        # None unsets a variable: the commands must find the broker through running.json.
        env = {"CITYHUB_DATABASE_URL": database_url, "CITYHUB_STATE_DIR": str(state),
               "CITYHUB_BROKER_DIR": None, "CITYHUB_BROKER_PID_FILE": None}
        yield Up(embedded, Broker("127.0.0.1", embedded.port), tokens, env)
    finally:
        embedded.stop()
        shutil.rmtree(state, ignore_errors=True)


def cityhub(up: Up, *args: str) -> dict[str, object]:
    """Run a `cityhub` command that takes --json; its JSON document."""
    result = CliRunner().invoke(app, [*args, "--json"], env=up.cli_env)
    assert result.exit_code == 0, result.output
    assert "the broker reloaded" in result.stderr, result.stderr
    document = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    assert isinstance(document, dict)
    return document


def reading(value: float) -> str:
    return json.dumps({"ts": now_iso(), "pm10": value})


def test_anonymous_and_wrong_passwords_are_refused(up: Up) -> None:
    device_id, token = next(iter(up.tokens.items()))
    assert not login(up.broker, None, None)
    assert not login(up.broker, device_id, token + "x")
    assert not login(up.broker, INGEST_ACCOUNT, token)
    assert login(up.broker, device_id, token)
    assert login(up.broker, INGEST_ACCOUNT, up.embedded.passwords[INGEST_ACCOUNT])


def test_a_device_publishes_on_its_own_topic_and_not_on_anothers(up: Up) -> None:
    mine, other = up.tokens
    ingest = logged_in(up.broker, INGEST_ACCOUNT, up.embedded.passwords[INGEST_ACCOUNT])
    device = logged_in(up.broker, mine, up.tokens[mine])
    try:
        assert ingest.accepted
        assert device.accepted
        ingest.subscribe("cityhub/v1/#")
        # Acknowledged in MQTT 3.1.1 but dropped by the ACL.
        device.publish(f"cityhub/v1/{other}/telemetry", reading(666.0))
        device.publish(f"cityhub/v1/{mine}/telemetry", reading(42.0))
        wait_for(lambda: ingest.received, what="the device's own reading at the ingest account")
    finally:
        device.close()
        ingest.close()
    # One publisher, one subscriber: delivered in order, so the first was never delivered.
    assert [topic for topic, _ in ingest.received] == [f"cityhub/v1/{mine}/telemetry"]
    assert json.loads(ingest.received[0][1])["pm10"] == 42.0


def test_device_commands_update_the_running_broker_without_broker_config(up: Up) -> None:
    device_id = f"emb-cam-{secrets.token_hex(3)}"
    added = str(cityhub(up, "device", "add", "--kind", "cctv", "--id", device_id)["token"])
    wait_for(lambda: login(up.broker, device_id, added), what="the new device to log in")

    rotated = str(cityhub(up, "device", "rotate", device_id)["token"])
    wait_for(lambda: not login(up.broker, device_id, added), what="the old token to be refused")
    assert login(up.broker, device_id, rotated)
    # The demo simulator keeps its account through the rewrite of the files.
    assert login(up.broker, SIM_ACCOUNT, up.embedded.passwords[SIM_ACCOUNT])

    connected = logged_in(up.broker, device_id, rotated)
    try:
        assert connected.accepted
        cityhub(up, "device", "revoke", device_id)
        wait_for(lambda: not login(up.broker, device_id, rotated), what="the revoked token to be refused")
        # Mosquitto re-checks logins on reload and drops the revoked device's session.
        wait_for(lambda: not connected.client.is_connected(), what="the revoked device to be dropped")
    finally:
        connected.close()
