"""Attacks on the broker with the password file and ACL `cityhub broker config` writes,
with real ingest behind it: whatever an attacker sends must not be stored.

Each test proves the denial by ordering: ingest handles one connection's messages in
order, so once the attacker's own legitimate message (sent after the attack) is stored,
the attack message would have been stored before it, had the broker let it through.
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from typer.testing import CliRunner

from hub.catalogue import Catalogue
from hub.cli.main import app
from hub.errors import AlreadyExists, InvalidInput
from hub.mqtt_access import INGEST_ACCOUNT, SIM_ACCOUNT
from hub.registry import add_device
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import SecureBroker
from tests.helpers import dead_letters, now_iso, rows
from tests.hub.test_broker_auth import (  # noqa: F401  (module fixtures, found by name)
    broker_config,
    cli_env,
    ingest_password,
    running,
    secure_broker,
)
from tests.mqtt_client import Device, logged_in, login
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]


@pytest.fixture(scope="module")
def devices(database_url: str, catalogue: Catalogue, ingest_password: str) -> dict[str, str]:  # noqa: F811
    """Role -> device id and token: an attacker, its victim, and two gateways."""
    made = {}
    with psycopg.connect(database_url) as conn:
        for role, kind in (("attacker", "air_quality"), ("victim", "cctv"),
                           ("gateway", "gateway"), ("gateway2", "gateway")):
            device_id = f"sec-{role}-{secrets.token_hex(3)}"
            made[role] = (device_id, add_device(conn, catalogue, device_id, kind).token)
    return {k: f"{v[0]}\n{v[1]}" for k, v in made.items()}


def who(devices: dict[str, str], role: str) -> tuple[str, str]:
    device_id, token = devices[role].split("\n")
    return device_id, token


def reading(value: float) -> str:
    return json.dumps({"ts": now_iso(), "pm10": value})


def stored_anything(db: Conn, device_id: str) -> list[object]:
    """Everything the hub keeps that a message of *device_id* could have made."""
    found: list[object] = [*rows(db, device_id), *dead_letters(db, device_id)]
    found += db.execute("SELECT type FROM hub.events WHERE device_id = %s", (device_id,)).fetchall()
    status = db.execute("SELECT online FROM hub.devices WHERE id = %s", (device_id,)).fetchone()
    if status is not None and status[0] is not None:
        found.append(("online", status[0]))
    return found


def publish_then_prove(client: Device, attacks: list[tuple[str, str]], own: str, value: float,
                       db: Conn, own_id: str) -> None:
    """Publish the *attacks* (topic, payload), then a good reading on *own*, and wait until
    that reading is stored: anything of the attacks would have been stored before it."""
    for topic, payload in attacks:
        client.publish(topic, payload)  # Mosquitto acknowledges a denied QoS 1 publish and drops it
    client.publish(own, reading(value))
    wait_for(lambda: ("pm10", value) in rows(db, own_id), what="the attacker's own reading")


def test_a_device_cannot_publish_on_another_devices_topics(
    running: IngestProcess, secure_broker: SecureBroker, devices: dict[str, str], db: Conn  # noqa: F811
) -> None:
    me, token = who(devices, "attacker")
    victim, _ = who(devices, "victim")
    client = logged_in(secure_broker.broker, me, token)
    try:
        assert client.accepted
        event = json.dumps({"ts": now_iso(), "type": "intrusion", "confidence": 0.99})
        publish_then_prove(client, [
            (f"cityhub/v1/{victim}/telemetry", reading(666.0)),
            (f"cityhub/v1/{victim}/events", event),
            (f"cityhub/v1/{victim}/status", "offline"),
            (f"cityhub/v1/{victim}/errors", '{"forged": true}'),
            (f"cityhub/v1/{victim}/telemetry/extra", reading(667.0)),
        ], f"cityhub/v1/{me}/telemetry", 11.0, db, me)
    finally:
        client.close()
    assert stored_anything(db, victim) == []


def test_a_device_cannot_publish_as_a_gateway_and_a_gateway_not_as_another(
    running: IngestProcess, secure_broker: SecureBroker, devices: dict[str, str], db: Conn,  # noqa: F811
    catalogue: Catalogue,
) -> None:
    me, token = who(devices, "attacker")
    gateway, gateway_token = who(devices, "gateway")
    other_gateway, _ = who(devices, "gateway2")
    behind = f"sec-behind-{secrets.token_hex(3)}"
    add_device(db, catalogue, behind, "air_quality", gateway_id=other_gateway)
    batch = json.dumps({behind: [json.loads(reading(999.0))]})
    as_device = logged_in(secure_broker.broker, me, token)
    as_gateway = logged_in(secure_broker.broker, gateway, gateway_token)
    try:
        publish_then_prove(as_device, [
            (f"cityhub/v1/gateway/{other_gateway}/telemetry", batch),
            (f"cityhub/v1/gateway/{me}/telemetry", batch),
        ], f"cityhub/v1/{me}/telemetry", 12.0, db, me)
        # A gateway may publish for its own devices only under its own prefix.
        as_gateway.publish(f"cityhub/v1/gateway/{other_gateway}/telemetry", batch)
        as_gateway.publish(f"cityhub/v1/{behind}/telemetry", reading(998.0))
        as_gateway.publish(f"cityhub/v1/{gateway}/status", "online")
        wait_for(lambda: stored_anything(db, gateway), what="the gateway's own status")
    finally:
        as_device.close()
        as_gateway.close()
    assert stored_anything(db, behind) == []
    assert stored_anything(db, other_gateway) == []


@pytest.mark.parametrize("pattern", ["#", "cityhub/#", "cityhub/v1/+/telemetry", "cityhub/v1/+/errors",
                                     "victim/errors", "victim/telemetry", "$SYS/#", "+/+/+/+"])
def test_subscribing_to_other_devices_topics_or_wildcards_receives_nothing(
    running: IngestProcess, secure_broker: SecureBroker, devices: dict[str, str], pattern: str,  # noqa: F811
) -> None:
    me, token = who(devices, "attacker")
    victim, victim_token = who(devices, "victim")
    topic = pattern.replace("victim/", f"cityhub/v1/{victim}/")
    spy = logged_in(secure_broker.broker, me, token)
    target = logged_in(secure_broker.broker, victim, victim_token)
    try:
        spy.subscribe(topic)
        target.subscribe(f"cityhub/v1/{victim}/errors")
        # The victim publishes a reading and a bad message; ingest answers the bad one on the
        # victim's errors topic, which the victim receives: traffic flowed past the spy.
        target.publish(f"cityhub/v1/{victim}/telemetry", reading(5.0))
        target.publish(f"cityhub/v1/{victim}/telemetry", "not json")
        wait_for(lambda: target.received, what="ingest's answer on the victim's errors topic")
        spy.publish(f"cityhub/v1/{me}/status", "online")  # a round trip after the victim's traffic
    finally:
        target.close()
        spy.close()
    assert spy.received == []


@pytest.mark.parametrize("device_id", ["+", "#", "a/b", "sec+x", "sec#", "a b", "dev\x00x", "%u",
                                       "..", "", "x" * 200, "décor", INGEST_ACCOUNT, SIM_ACCOUNT,
                                       "GATEWAY"])
def test_wildcard_and_special_character_device_ids_cannot_be_registered(
    db: Conn, catalogue: Catalogue, device_id: str
) -> None:
    with pytest.raises(InvalidInput):
        add_device(db, catalogue, device_id, "air_quality")


def test_wildcard_and_special_character_usernames_cannot_log_in(
    running: IngestProcess, secure_broker: SecureBroker, devices: dict[str, str], db: Conn,  # noqa: F811
    catalogue: Catalogue,
) -> None:
    me, token = who(devices, "attacker")
    # A device id that differs from a registered one in letter case only is refused too.
    with pytest.raises(AlreadyExists, match="letter case"):
        add_device(db, catalogue, me.upper(), "air_quality")
    for username in ("+", "#", "cityhub/v1/#", f"{me}/#", f"{me}+", me.upper(), f" {me}", f"{me}\n",
                     "%u", INGEST_ACCOUNT, SIM_ACCOUNT):
        assert refused(secure_broker, username, token), f"{username!r} logged in"
    assert not refused(secure_broker, me, token)


def test_anonymous_and_passwordless_logins_are_refused(
    running: IngestProcess, secure_broker: SecureBroker, devices: dict[str, str],  # noqa: F811
) -> None:
    me, token = who(devices, "attacker")
    assert not login(secure_broker.broker, None, None)
    assert not login(secure_broker.broker, "", None)
    assert not login(secure_broker.broker, me, None)
    assert not login(secure_broker.broker, me, "")
    assert not login(secure_broker.broker, me, token[:-1])
    assert login(secure_broker.broker, me, token)


def refused(broker: SecureBroker, username: str, password: str) -> bool:
    """Does the broker refuse this login, by a failing CONNACK or by closing the connection
    (what Mosquitto does with a username it cannot even parse)?"""
    answer: list[bool] = []
    done = threading.Event()

    def on_connect(_c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        answer.append(bool(reason.is_failure))
        done.set()

    def on_disconnect(*_: Any) -> None:
        answer.append(True)
        done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"sec-{secrets.token_hex(4)}")
    client.username_pw_set(username, password)
    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    client.connect(broker.broker.host, broker.port)
    client.loop_start()
    try:
        assert done.wait(10), f"neither a CONNACK nor a disconnect for {username!r}"
        return answer[0]
    finally:
        client.disconnect()
        client.loop_stop()


def _device_cli(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, ["device", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_a_revoked_device_is_refused_and_dropped(
    running: IngestProcess, secure_broker: SecureBroker, db: Conn, catalogue: Catalogue,  # noqa: F811
    cli_env: dict[str, str],  # noqa: F811
) -> None:
    device_id = f"sec-rev-{secrets.token_hex(3)}"
    token = add_device(db, catalogue, device_id, "air_quality").token
    broker_config(cli_env, secure_broker)
    connected = wait_for(lambda: _accepted(secure_broker, device_id, token), what="the new device's login")
    try:
        _device_cli(cli_env, "revoke", device_id)
        broker_config(cli_env, secure_broker)
        wait_for(lambda: not connected.client.is_connected(), what="the revoked device to be dropped")
        assert not login(secure_broker.broker, device_id, token)
    finally:
        connected.close()
    assert device_id not in (secure_broker.directory / "passwd").read_text()


def test_a_rotated_token_stops_working_and_the_new_one_works(
    running: IngestProcess, secure_broker: SecureBroker, db: Conn, catalogue: Catalogue,  # noqa: F811
    cli_env: dict[str, str],  # noqa: F811
) -> None:
    device_id = f"sec-rot-{secrets.token_hex(3)}"
    old = add_device(db, catalogue, device_id, "air_quality").token
    broker_config(cli_env, secure_broker)
    wait_for(lambda: login(secure_broker.broker, device_id, old), what="the new device's login")
    output = _device_cli(cli_env, "rotate", device_id, "--json")
    new = str(json.loads(next(line for line in output.splitlines() if line.startswith("{")))["token"])
    broker_config(cli_env, secure_broker)
    wait_for(lambda: not login(secure_broker.broker, device_id, old), what="the old token to fail")
    assert login(secure_broker.broker, device_id, new)


def _accepted(broker: SecureBroker, username: str, password: str) -> Device | None:
    client = logged_in(broker.broker, username, password)
    if client.accepted:
        return client
    client.close()
    return None

