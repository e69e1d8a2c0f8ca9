"""/api/v1/mqtt/auth and /acl: the EMQX HTTP auth endpoints follow the Mosquitto rules."""

from __future__ import annotations

import httpx
import pytest

from hub.catalogue import Catalogue
from hub.registry import add_device, revoke_device
from tests.helpers import Conn
from tests.ops_console.conftest import BROKER_SECRET, bearer

pytestmark = pytest.mark.integration

BROKER = bearer(BROKER_SECRET)


def auth(client: httpx.Client, username: str, password: str) -> str:
    response = client.post("/api/v1/mqtt/auth", headers=BROKER,
                           json={"username": username, "password": password, "clientid": username})
    assert response.status_code == 200, response.text
    assert response.json()["is_superuser"] is False
    result: str = response.json()["result"]
    return result


def acl(client: httpx.Client, username: str, action: str, topic: str) -> str:
    response = client.post("/api/v1/mqtt/acl", headers=BROKER,
                           json={"username": username, "action": action, "topic": topic, "clientid": "c"})
    assert response.status_code == 200, response.text
    result: str = response.json()["result"]
    return result


def test_devices_log_in_and_use_only_their_own_topics(client: httpx.Client, db: Conn,
                                                      catalogue: Catalogue) -> None:
    mine = add_device(db, catalogue, "aq-mqtt-api-1", "air_quality")
    other = add_device(db, catalogue, "aq-mqtt-api-2", "air_quality")
    assert auth(client, "aq-mqtt-api-1", mine.token) == "allow"
    assert auth(client, "aq-mqtt-api-1", other.token) == "deny"
    assert auth(client, "aq-mqtt-api-1", "") == "deny"
    assert auth(client, "no-such-device", mine.token) == "deny"
    assert acl(client, "aq-mqtt-api-1", "publish", "cityhub/v1/aq-mqtt-api-1/telemetry") == "allow"
    assert acl(client, "aq-mqtt-api-1", "publish", "cityhub/v1/aq-mqtt-api-2/telemetry") == "deny"
    assert acl(client, "aq-mqtt-api-1", "subscribe", "cityhub/v1/aq-mqtt-api-1/errors") == "allow"
    assert acl(client, "aq-mqtt-api-1", "subscribe", "cityhub/v1/aq-mqtt-api-2/errors") == "deny"
    assert acl(client, "aq-mqtt-api-1", "subscribe", "cityhub/v1/#") == "deny"
    assert acl(client, "aq-mqtt-api-1", "retain", "cityhub/v1/aq-mqtt-api-1/telemetry") == "deny"

    revoke_device(db, "aq-mqtt-api-2")
    assert auth(client, "aq-mqtt-api-2", other.token) == "deny"
    assert acl(client, "aq-mqtt-api-2", "publish", "cityhub/v1/aq-mqtt-api-2/telemetry") == "deny"


def test_malformed_requests_are_denied_not_ignored(client: httpx.Client) -> None:
    # EMQX treats a non-200 answer as "ignore"; a broken request must still be a "deny".
    for body in ({}, {"username": "x"}, {"topic": 5}):
        response = client.post("/api/v1/mqtt/acl", headers=BROKER, json=body)
        if response.status_code == 200:
            assert response.json()["result"] == "deny"
        else:
            assert response.status_code == 422
    assert client.post("/api/v1/mqtt/auth", headers=BROKER, json={}).json()["result"] == "deny"


def test_only_the_broker_secret_opens_the_endpoints(client: httpx.Client) -> None:
    body = {"username": "u", "password": "p"}
    assert client.post("/api/v1/mqtt/auth", json=body).status_code == 401
    assert client.post("/api/v1/mqtt/auth", json=body, headers=bearer("wrong-secret")).status_code == 401
