"""Device tokens stored as an HMAC under a server-side key; argon2 rows upgraded on login."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from pathlib import Path

import psycopg
import pytest

from hub.catalogue import Catalogue
from hub.cli.common import token_keys as token_keys_for
from hub.credentials import hash_password, new_token
from hub.device_tokens import SCHEME, Checked, TokenKeys, check, demo_key, parse_keys
from hub.errors import ConfigError
from hub.mqtt_access import MqttIdentity, authenticate_async
from hub.registry import add_device, add_many, rotate_token
from hub.settings import load_settings
from tests import token_keys
from tests.helpers import Conn

ROTATED = parse_keys(token_keys.KEY, token_keys.OLD_KEY)
OLD_ONLY = parse_keys(token_keys.OLD_KEY)


def test_a_token_is_stored_as_a_keyed_hash_naming_its_key() -> None:
    token = new_token()
    stored = token_keys.KEYS.hash(token)
    scheme, key_id, digest = stored.split("$")
    assert scheme == SCHEME
    assert key_id == token_keys.KEYS.current.id
    assert len(digest) == 64
    assert token not in stored
    assert token_keys.KEY not in stored
    assert check(token_keys.KEYS, stored, token).ok
    assert not check(token_keys.KEYS, stored, new_token()).ok
    assert check(token_keys.KEYS, stored, token).rehash is None
    # Another key gives another id and another digest: a stolen table is no use without it.
    assert OLD_ONLY.current.id != key_id
    assert OLD_ONLY.hash(token) != stored


def test_an_earlier_key_still_admits_and_is_replaced() -> None:
    token = new_token()
    under_old = OLD_ONLY.hash(token)
    checked = check(ROTATED, under_old, token)
    assert checked.ok
    assert checked.rehash is not None
    assert check(token_keys.KEYS, checked.rehash, token).ok
    assert not check(ROTATED, under_old, new_token()).ok


def test_an_unknown_key_is_refused_loudly_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    token = new_token()
    stored = parse_keys("an-unrelated-key-" + secrets.token_urlsafe(24)).hash(token)
    with caplog.at_level(logging.ERROR, logger="hub.device_tokens"):
        assert not check(token_keys.KEYS, stored, token).ok
    assert stored.split("$")[1] in caplog.text
    assert "CITYHUB_DEVICE_TOKEN_OLD_KEYS" in caplog.text
    assert token not in caplog.text


def test_an_argon2_hash_is_checked_and_upgraded_once_right() -> None:
    token = new_token()
    legacy = hash_password(token)
    good = check(token_keys.KEYS, legacy, token)
    assert good.ok
    assert good.rehash is not None
    assert good.rehash.startswith(f"{SCHEME}$")
    wrong = check(token_keys.KEYS, legacy, new_token())
    assert (wrong.ok, wrong.rehash) == (False, None)
    # Without a key the argon2 row still logs in, and stays as it is.
    assert check(None, legacy, token) == Checked(True, None)


@pytest.mark.parametrize("weak", ["", "changeme", "short", "aaaaaaaaaaaaaaaaaaaaaaaa"])
def test_a_weak_key_is_refused(weak: str) -> None:
    with pytest.raises(ConfigError, match="CITYHUB_DEVICE_TOKEN_KEY"):
        load_settings({"CITYHUB_DEVICE_TOKEN_KEY": weak or " "}).device_token_keys()


def test_settings_give_the_key_and_the_earlier_ones() -> None:
    assert load_settings({}).device_token_keys() is None
    keys = load_settings({"CITYHUB_DEVICE_TOKEN_KEY": token_keys.KEY,
                          "CITYHUB_DEVICE_TOKEN_OLD_KEYS": f" {token_keys.OLD_KEY} ,"}).device_token_keys()
    assert keys == ROTATED
    assert "Qm7v" not in repr(keys)  # the secret is kept out of reprs and so out of logs


# --- against PostgreSQL: what the EMQX endpoint does -------------------------------------


def login(database_url: str, username: str, password: str,
          keys: TokenKeys | None) -> MqttIdentity | None:
    async def attempt() -> MqttIdentity | None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await authenticate_async(conn, username, password, keys)
    return asyncio.run(attempt())


def stored_hash(db: Conn, device_id: str) -> str:
    row = db.execute("SELECT token_hash FROM hub.devices WHERE id = %s", (device_id,)).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.integration
def test_a_device_of_the_argon2_era_keeps_logging_in(database_url: str, db: Conn,
                                                     catalogue: Catalogue) -> None:
    device_id = f"cred-legacy-{secrets.token_hex(3)}"
    token = add_device(db, catalogue, device_id, "air_quality").token  # no key: argon2, as before
    assert stored_hash(db, device_id).startswith("$argon2")
    expected = MqttIdentity(device_id, "device", "air_quality")

    assert login(database_url, device_id, new_token(), token_keys.KEYS) is None
    assert stored_hash(db, device_id).startswith("$argon2")  # a wrong token changes nothing
    assert login(database_url, device_id, token, token_keys.KEYS) == expected
    upgraded = stored_hash(db, device_id)
    assert upgraded.startswith(f"{SCHEME}${token_keys.KEYS.current.id}$")
    for _ in range(2):
        assert login(database_url, device_id, token, token_keys.KEYS) == expected
    assert stored_hash(db, device_id) == upgraded
    assert login(database_url, device_id, new_token(), token_keys.KEYS) is None


@pytest.mark.integration
def test_a_key_change_with_the_old_key_listed_moves_devices_over(
    database_url: str, db: Conn, catalogue: Catalogue, caplog: pytest.LogCaptureFixture
) -> None:
    device_id = f"cred-rekey-{secrets.token_hex(3)}"
    token = add_device(db, catalogue, device_id, "smart_meter", keys=OLD_ONLY).token
    # Only the new key: refused, and the log says which key is missing.
    with caplog.at_level(logging.ERROR, logger="hub.device_tokens"):
        assert login(database_url, device_id, token, token_keys.KEYS) is None
    assert OLD_ONLY.current.id in caplog.text
    # New key with the old one listed: admitted and re-hashed under the new key.
    assert login(database_url, device_id, token, ROTATED) is not None
    assert stored_hash(db, device_id).split("$")[1] == token_keys.KEYS.current.id
    assert login(database_url, device_id, token, token_keys.KEYS) is not None


@pytest.mark.integration
def test_import_and_rotation_store_the_keyed_hash(database_url: str, db: Conn,
                                                  catalogue: Catalogue) -> None:
    tag = secrets.token_hex(3)
    gateway = f"cred-gw-{tag}"
    rows = [(gateway, "gateway", "z", None, None, None),
            *((f"cred-bulk-{tag}-{i}", "air_quality", "z", 37.5, 127.0, gateway) for i in range(5))]
    created = add_many(db, catalogue, rows, keys=token_keys.KEYS)
    assert [c.device.id for c in created] == [r[0] for r in rows]
    assert created[1].device.gateway_id == gateway
    for new in created:
        assert check(token_keys.KEYS, stored_hash(db, new.device.id), new.token).ok
        assert login(database_url, new.device.id, new.token, token_keys.KEYS) is not None
    rotated = rotate_token(db, created[1].device.id, token_keys.KEYS)
    assert login(database_url, rotated.device.id, created[1].token, token_keys.KEYS) is None
    assert login(database_url, rotated.device.id, rotated.token, token_keys.KEYS) is not None


def test_commands_use_the_demo_key_while_cityhub_up_runs(tmp_path: Path) -> None:
    current = load_settings({"CITYHUB_STATE_DIR": str(tmp_path)})
    assert token_keys_for(current) is None  # no key and no demo: argon2, with a note
    (tmp_path / "running.json").write_text(json.dumps({"database_url": "postgresql://x@y/z"}))
    keys = token_keys_for(current)
    assert keys is not None
    # The same key `cityhub up` gives its console.
    assert keys == parse_keys(demo_key(tmp_path))
    assert oct((tmp_path / "demo-device-token-key").stat().st_mode & 0o777) == "0o600"
    given = load_settings({"CITYHUB_STATE_DIR": str(tmp_path), **token_keys.ENV})
    assert token_keys_for(given) == token_keys.KEYS
