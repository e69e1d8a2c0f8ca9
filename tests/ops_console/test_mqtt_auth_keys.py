"""/api/v1/mqtt/auth with CITYHUB_DEVICE_TOKEN_KEY: keyed hashes, and argon2 rows upgraded."""

from __future__ import annotations

import logging
import secrets

import httpx
import pytest

from hub.catalogue import Catalogue
from hub.registry import add_device
from ops_console.testing import ConsoleServer
from tests import token_keys
from tests.helpers import Conn
from tests.ops_console.conftest import BROKER_SECRET, bearer, broker_login

pytestmark = pytest.mark.integration


def token_hash(db: Conn, device_id: str) -> str:
    row = db.execute("SELECT token_hash FROM hub.devices WHERE id = %s", (device_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_device_registered_under_argon2_keeps_connecting_and_is_upgraded(
    keyed_console: ConsoleServer, db: Conn, catalogue: Catalogue, caplog: pytest.LogCaptureFixture,
) -> None:
    device_id = f"aq-legacy-{secrets.token_hex(3)}"
    token = add_device(db, catalogue, device_id, "air_quality").token  # the argon2 era
    assert token_hash(db, device_id).startswith("$argon2")
    with caplog.at_level(logging.DEBUG):
        assert broker_login(keyed_console, device_id, "not-" + token) == "deny"
        assert token_hash(db, device_id).startswith("$argon2")
        assert broker_login(keyed_console, device_id, token) == "allow"
        assert token_hash(db, device_id).startswith(f"hmac-sha256${token_keys.KEYS.current.id}$")
        # Every reconnect after the first is checked against the keyed hash.
        assert broker_login(keyed_console, device_id, token) == "allow"
        assert broker_login(keyed_console, device_id, "not-" + token) == "deny"
    assert token not in caplog.text


def test_devices_registered_with_the_key_log_in(keyed_console: ConsoleServer, db: Conn,
                                                catalogue: Catalogue) -> None:
    device_id = f"aq-keyed-{secrets.token_hex(3)}"
    token = add_device(db, catalogue, device_id, "air_quality", keys=token_keys.KEYS).token
    assert broker_login(keyed_console, device_id, token) == "allow"
    assert broker_login(keyed_console, "aq-no-such-device", token) == "deny"
    assert broker_login(keyed_console, device_id, token[:-1]) == "deny"


def test_a_console_without_the_key_refuses_keyed_hashes(client: httpx.Client, db: Conn,
                                                        catalogue: Catalogue) -> None:
    # The session's console has no CITYHUB_DEVICE_TOKEN_KEY: it cannot check these hashes.
    device_id = f"aq-nokey-{secrets.token_hex(3)}"
    token = add_device(db, catalogue, device_id, "air_quality", keys=token_keys.KEYS).token
    response = client.post("/api/v1/mqtt/auth", headers=bearer(BROKER_SECRET),
                           json={"username": device_id, "password": token})
    assert response.json()["result"] == "deny"
