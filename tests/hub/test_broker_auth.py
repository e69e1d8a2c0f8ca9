"""A real Mosquitto started with the files `cityhub broker config` writes, and real ingest."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from hub.broker import set_account
from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.mqtt_access import INGEST_ACCOUNT
from hub.registry import add_device
from tests.fix_ingest import IngestProcess, ingest_env
from tests.fix_mqtt import SecureBroker, secure_mosquitto
from tests.helpers import now_iso, rows
from tests.mqtt_client import logged_in, login
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secure_broker(database_url: str, ingest_password: str) -> Iterator[SecureBroker]:
    with secure_mosquitto(database_url) as broker:
        yield broker


@pytest.fixture(scope="module")
def ingest_password(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        return set_account(conn, INGEST_ACCOUNT)


@pytest.fixture(scope="module")
def cli_env(database_url: str) -> dict[str, str]:
    _plugins()
    return {"CITYHUB_DATABASE_URL": database_url}


def broker_config(env: dict[str, str], broker: SecureBroker) -> None:
    """What an administrator runs after a change: rewrite the files, SIGHUP the broker."""
    args = ["broker", "config", "--dir", str(broker.directory), "--reload-pid", str(broker.pid)]
    if os.geteuid() == 0:
        args += ["--owner", "mosquitto"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def devices(
    database_url: str, catalogue: Catalogue, ingest_password: str, cli_env: dict[str, str]
) -> dict[str, str]:
    """Two devices and a gateway, registered: id -> token."""
    tokens = {}
    with psycopg.connect(database_url) as conn:
        for kind in ("air_quality", "air_quality", "gateway"):
            device_id = f"auth-{kind.replace('_', '')}-{secrets.token_hex(3)}"
            tokens[device_id] = add_device(conn, catalogue, device_id, kind).token
    return tokens


@pytest.fixture(scope="module")
def running(
    secure_broker: SecureBroker, devices: dict[str, str], ingest_password: str,
    cli_env: dict[str, str], database_url: str, key_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[IngestProcess]:
    broker_config(cli_env, secure_broker)
    env = ingest_env(database_url, secure_broker.broker, key_file,
                     CITYHUB_MQTT_URL=secure_broker.url(INGEST_ACCOUNT, ingest_password))
    process = IngestProcess(env, Path(tmp_path_factory.mktemp("ingest-auth")) / "ingest.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def reading(value: float) -> str:
    return f'{{"ts": "{now_iso()}", "pm10": {value}}}'


def test_a_device_publishes_under_its_own_id_and_not_under_anothers(
    running: IngestProcess, secure_broker: SecureBroker, devices: dict[str, str], db: psycopg.Connection[Any]
) -> None:
    mine, other, _ = devices
    client = logged_in(secure_broker.broker, mine, devices[mine])
    try:
        assert client.accepted
        # The broker acknowledges a denied QoS 1 publish in MQTT 3.1.1 but drops it.
        client.publish(f"cityhub/v1/{other}/telemetry", reading(666.0))
        client.publish(f"cityhub/v1/{mine}/telemetry", reading(42.0))
    finally:
        client.close()
    assert wait_for(lambda: rows(db, mine), what="the device's own reading to be stored") == [("pm10", 42.0)]
    # Ingest handles messages in order: the good one arrived, so the other was never delivered.
    assert rows(db, other) == []


def test_a_device_reads_its_own_rejections_from_ingest(
    running: IngestProcess, secure_broker: SecureBroker, devices: dict[str, str]
) -> None:
    mine = next(iter(devices))
    client = logged_in(secure_broker.broker, mine, devices[mine])
    try:
        client.subscribe(f"cityhub/v1/{mine}/errors")
        client.publish(f"cityhub/v1/{mine}/telemetry", "not json")
        wait_for(lambda: client.received, what="ingest's rejection on the device's errors topic")
        assert client.received[0][0] == f"cityhub/v1/{mine}/errors"
    finally:
        client.close()


def test_a_gateway_publishes_under_the_gateway_prefix_and_a_sensor_cannot(
    running: IngestProcess, secure_broker: SecureBroker, devices: dict[str, str],
    db: psycopg.Connection[Any], catalogue: Catalogue, cli_env: dict[str, str],
) -> None:
    sensor, _, gateway = devices
    behind = f"auth-behind-{secrets.token_hex(3)}"
    add_device(db, catalogue, behind, "air_quality", gateway_id=gateway)
    as_sensor = logged_in(secure_broker.broker, sensor, devices[sensor])
    as_gateway = logged_in(secure_broker.broker, gateway, devices[gateway])
    try:
        as_sensor.publish(f"cityhub/v1/gateway/{sensor}/telemetry",
                          f'{{"{behind}": [{reading(1.0)}]}}')
        as_gateway.publish(f"cityhub/v1/gateway/{gateway}/telemetry",
                           f'{{"{behind}": [{reading(2.0)}]}}')
    finally:
        as_sensor.close()
        as_gateway.close()
    assert wait_for(lambda: rows(db, behind), what="the gateway's reading") == [("pm10", 2.0)]


def test_anonymous_and_wrong_password_logins_are_refused(
    running: IngestProcess, secure_broker: SecureBroker, devices: dict[str, str]
) -> None:
    device_id = next(iter(devices))
    assert not login(secure_broker.broker, None, None)
    assert not login(secure_broker.broker, device_id, devices[device_id] + "x")
    assert not login(secure_broker.broker, "no-such-device", devices[device_id])
    assert login(secure_broker.broker, device_id, devices[device_id])


def test_rotation_and_revocation_take_effect_after_broker_config(
    running: IngestProcess, secure_broker: SecureBroker, catalogue: Catalogue,
    db: psycopg.Connection[Any], cli_env: dict[str, str],
) -> None:
    device_id = f"auth-rot-{secrets.token_hex(3)}"
    old = add_device(db, catalogue, device_id, "cctv").token
    assert not login(secure_broker.broker, device_id, old)  # not in the broker's files yet
    broker_config(cli_env, secure_broker)
    assert wait_for(lambda: login(secure_broker.broker, device_id, old), what="the new device to log in")

    rotated = CliRunner().invoke(app, ["device", "rotate", device_id, "--json"], env=cli_env)
    assert rotated.exit_code == 0, rotated.output
    new = next(line for line in rotated.output.splitlines() if line.startswith("{"))
    token = str(__import__("json").loads(new)["token"])
    broker_config(cli_env, secure_broker)
    assert wait_for(lambda: not login(secure_broker.broker, device_id, old), what="the old token to fail")
    assert login(secure_broker.broker, device_id, token)

    connected = logged_in(secure_broker.broker, device_id, token)
    try:
        revoked = CliRunner().invoke(app, ["device", "revoke", device_id], env=cli_env)
        assert revoked.exit_code == 0, revoked.output
        broker_config(cli_env, secure_broker)
        assert wait_for(lambda: not login(secure_broker.broker, device_id, token), what="revocation")
        # Mosquitto re-checks logins on reload and drops the revoked device's session.
        wait_for(lambda: not connected.client.is_connected(), what="the revoked device to be dropped")
    finally:
        connected.close()
    assert device_id not in (secure_broker.directory / "passwd").read_text()
