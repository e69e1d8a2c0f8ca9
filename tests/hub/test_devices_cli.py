"""`cityhub device import/revoke/rotate/show/list` and `cityhub broker …` against PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import json
import secrets
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from hub.cli.main import _plugins, app
from hub.credentials import verify_broker_hash
from hub.device_tokens import check
from hub.errors import HubError
from hub.mqtt_access import INGEST_ACCOUNT, MqttIdentity, authenticate_async
from tests import token_keys
from tests.helpers import Conn

pytestmark = pytest.mark.integration

Cli = tuple[CliRunner, dict[str, str]]
Login = Callable[[str, str], MqttIdentity | None]


@pytest.fixture
def cli(database_url: str) -> Cli:
    _plugins()
    return CliRunner(), {"CITYHUB_DATABASE_URL": database_url, **token_keys.ENV}


@pytest.fixture
def login(database_url: str) -> Login:
    """A broker login checked as the console checks it (POST /api/v1/mqtt/auth)."""
    def check(username: str, password: str) -> MqttIdentity | None:
        async def attempt() -> MqttIdentity | None:
            async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
                return await authenticate_async(conn, username, password, token_keys.KEYS)
        return asyncio.run(attempt())
    return check


def json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def run(cli: Cli, *args: str) -> tuple[int, str]:
    runner, env = cli
    result = runner.invoke(app, list(args), env=env)
    # `cityhub` (hub.cli.main.main) prints a HubError as "error: …"; the runner hands it back.
    error = f"error: {result.exception}" if isinstance(result.exception, HubError) else ""
    return result.exit_code, result.output + error


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def ids(prefix: str, n: int) -> list[str]:
    tag = secrets.token_hex(3)
    return [f"{prefix}-{tag}-{i}" for i in range(n)]


def registered(db: Conn, device_ids: list[str]) -> set[str]:
    return {str(r[0]) for r in
            db.execute("SELECT id FROM hub.devices WHERE id = ANY(%s)", (device_ids,)).fetchall()}


def test_import_registers_rows_and_writes_tokens_once_to_a_private_file(
    cli: Cli, db: Conn, login: Login, tmp_path: Path
) -> None:
    gw, aq, meter = ids("imp", 3)
    source = write_csv(tmp_path / "devices.csv", [
        "id,kind,zone,lat,lon,gateway",
        f"{gw},gateway,jung-gu,,,",
        f"{aq},air_quality,jung-gu,37.5663,126.9779,",
        f"{meter},smart_meter,jung-gu,,,{gw}",
    ])
    tokens = tmp_path / "tokens.csv"
    code, output = run(cli, "device", "import", str(source), "--tokens-out", str(tokens))
    assert code == 0, output
    assert "imported 3 device(s)" in output
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    with tokens.open(encoding="utf-8") as handle:
        given = {row["id"]: row["token"] for row in csv.DictReader(handle)}
    assert set(given) == {gw, aq, meter}
    for device_id, token in given.items():
        identity = login(device_id, token)
        assert identity is not None
        assert identity.username == device_id
    assert login(gw, given[gw]) == MqttIdentity(gw, "device", "gateway")
    row = db.execute("SELECT gateway_id, lat FROM hub.devices WHERE id = %s", (meter,)).fetchone()
    assert row == (gw, None)

    again = run(cli, "device", "import", str(source), "--tokens-out", str(tokens))
    assert again[0] == 1
    assert "exists already" in again[1]


def test_an_import_with_a_bad_row_imports_nothing_and_names_the_lines(
    cli: Cli, db: Conn, tmp_path: Path
) -> None:
    good, other = ids("imp-bad", 2)
    source = write_csv(tmp_path / "devices.csv", [
        "id,kind,zone,lat,lon",
        f"{good},air_quality,jung-gu,37.5,127.0",
        "bad/id,air_quality,jung-gu,,",
        f"{other},volcano,,,",
        f"{good}x,air_quality,,91,127",
    ])
    tokens = tmp_path / "tokens.csv"
    code, output = run(cli, "device", "import", str(source), "--tokens-out", str(tokens))
    assert code == 1
    assert "devices.csv:3:" in output
    assert "'+', '#' or '/'" in output
    assert "devices.csv:4:" in output
    assert "volcano" in output
    assert "devices.csv:5:" in output
    assert "Latitude 91.0" in output
    assert "nothing was imported" in output
    assert registered(db, [good, other, f"{good}x"]) == set()
    assert not tokens.exists()

    code, output = run(cli, "device", "import", str(source), "--tokens-out", str(tokens),
                       "--skip-bad", "--json")
    assert code == 0, output
    (summary,) = json_lines(output)
    assert summary["created"] == 1
    bad = summary["errors"]
    assert isinstance(bad, list)
    assert [e["line"] for e in bad] == [3, 4, 5]
    assert registered(db, [good, other, f"{good}x"]) == {good}


def test_an_import_skips_rows_registered_already(cli: Cli, db: Conn, tmp_path: Path) -> None:
    first, second = ids("imp-again", 2)
    assert run(cli, "device", "add", "--kind", "cctv", "--id", first)[0] == 0
    before = db.execute("SELECT token_hash FROM hub.devices WHERE id = %s", (first,)).fetchone()
    source = write_csv(tmp_path / "devices.csv",
                       ["kind,id", f"cctv,{first}", f"air_quality,{second}"])
    code, output = run(cli, "device", "import", str(source), "--tokens-out", str(tmp_path / "t.csv"),
                       "--json")
    assert code == 0, output
    (summary,) = json_lines(output)
    assert summary == {"created": 1, "present": [first], "errors": [],
                       "tokens_out": str(tmp_path / "t.csv")}
    after = db.execute("SELECT token_hash FROM hub.devices WHERE id = %s", (first,)).fetchone()
    assert after == before  # its token was not replaced
    assert registered(db, [second]) == {second}


def test_an_import_refuses_a_gateway_that_is_not_one(cli: Cli, db: Conn, tmp_path: Path) -> None:
    sensor, behind = ids("imp-gw", 2)
    source = write_csv(tmp_path / "d.csv", ["id,kind,gateway", f"{sensor},air_quality,",
                                           f"{behind},air_quality,{sensor}"])
    code, output = run(cli, "device", "import", str(source), "--tokens-out", str(tmp_path / "t.csv"))
    assert code == 1
    assert "d.csv:3:" in output
    assert "is a air_quality device, not a gateway" in output


def test_rotate_replaces_the_token_and_revoke_shuts_the_device_out(cli: Cli, db: Conn, login: Login) -> None:
    (device_id,) = ids("rot", 1)
    code, output = run(cli, "device", "add", "--kind", "air_quality", "--id", device_id, "--json")
    assert code == 0, output
    old = str(json_lines(output)[0]["token"])

    code, output = run(cli, "device", "rotate", device_id, "--json")
    assert code == 0, output
    new = str(json_lines(output)[0]["token"])
    assert new != old
    assert login(device_id, old) is None
    assert login(device_id, new) is not None
    row = db.execute("SELECT broker_hash FROM hub.devices WHERE id = %s", (device_id,)).fetchone()
    assert row is not None
    assert verify_broker_hash(str(row[0]), new)

    code, output = run(cli, "device", "revoke", device_id)
    assert code == 0, output
    assert login(device_id, new) is None
    row = db.execute("SELECT status, broker_hash FROM hub.devices WHERE id = %s", (device_id,)).fetchone()
    assert row == ("revoked", None)
    again = run(cli, "device", "revoke", device_id)
    assert again[0] == 1
    assert "revoked already" in again[1]
    rotated = run(cli, "device", "rotate", device_id)
    assert rotated[0] == 1
    assert "is revoked" in rotated[1]
    missing = run(cli, "device", "rotate", "no-such-device")
    assert missing[0] == 1
    assert "No device" in missing[1]


def test_show_prints_one_object_without_any_secret(cli: Cli, db: Conn) -> None:
    (device_id,) = ids("show", 1)
    code, output = run(cli, "device", "add", "--kind", "cctv", "--id", device_id, "--zone", "jongno-gu",
                       "--json")
    token = str(json_lines(output)[0]["token"])
    code, output = run(cli, "device", "show", device_id, "--json")
    assert code == 0, output
    (shown,) = json_lines(output)
    assert shown["device_id"] == device_id
    assert shown["zone"] == "jongno-gu"
    assert shown["connection"] == "never"
    text = json.dumps(shown)
    hashes = db.execute("SELECT token_hash, broker_hash FROM hub.devices WHERE id = %s",
                        (device_id,)).fetchone()
    assert hashes is not None
    assert token not in text
    assert str(hashes[0]) not in text
    assert str(hashes[1]) not in text
    assert "hash" not in text
    human = run(cli, "device", "show", device_id)
    assert human[0] == 0
    assert device_id in human[1]
    assert "never" in human[1]


def test_list_shows_online_offline_and_silent_devices(cli: Cli, db: Conn) -> None:
    talking, said_offline, silent, new = ids("status", 4)
    for device_id in (talking, said_offline, silent, new):
        assert run(cli, "device", "add", "--kind", "air_quality", "--id", device_id)[0] == 0
    now = datetime.now(UTC)
    # air_quality reports every 60 s: offline after 180 s of silence.
    db.execute("UPDATE hub.devices SET online = true, last_seen = %s WHERE id = %s",
               (now - timedelta(seconds=30), talking))
    db.execute("UPDATE hub.devices SET online = false, last_seen = %s WHERE id = %s",
               (now - timedelta(seconds=30), said_offline))
    db.execute("UPDATE hub.devices SET online = true, last_seen = %s WHERE id = %s",
               (now - timedelta(seconds=200), silent))
    code, output = run(cli, "device", "list", "--kind", "air_quality", "--json")
    assert code == 0, output
    states = {d["device_id"]: d for d in json_lines(output)}
    assert states[talking]["connection"] == "online"
    assert states[said_offline]["connection"] == "offline"
    assert states[silent]["connection"] == "offline"
    assert states[silent]["online"] is True  # the stored flag is kept; silence decides
    assert states[new]["connection"] == "never"
    assert states[new]["last_seen"] is None
    code, output = run(cli, "device", "list", "--connection", "online", "--json")
    listed = {d["device_id"] for d in json_lines(output)}
    assert talking in listed
    assert not listed & {said_offline, silent, new}


def test_broker_account_and_config_write_the_files(cli: Cli, login: Login, tmp_path: Path) -> None:
    code, output = run(cli, "broker", "account", INGEST_ACCOUNT, "--json")
    assert code == 0, output
    password = str(json_lines(output)[0]["password"])
    identity = login(INGEST_ACCOUNT, password)
    assert identity == MqttIdentity(INGEST_ACCOUNT, "ingest", None)
    refused = run(cli, "broker", "account", "aq-1")
    assert refused[0] == 1
    assert "not a service account" in refused[1]

    (device_id,) = ids("cfg", 1)
    assert run(cli, "device", "add", "--kind", "gateway", "--id", device_id)[0] == 0
    code, output = run(cli, "broker", "config", "--dir", str(tmp_path / "broker"), "--json")
    assert code == 0, output
    passwd = (tmp_path / "broker" / "passwd").read_text()
    logins = dict(line.split(":", 1) for line in passwd.splitlines())
    assert verify_broker_hash(logins[INGEST_ACCOUNT], password)
    assert device_id in logins
    assert "cityhub-sim" not in logins
    assert stat.S_IMODE((tmp_path / "broker" / "passwd").stat().st_mode) == 0o600
    acl = (tmp_path / "broker" / "acl").read_text()
    assert f"user {device_id}\ntopic write cityhub/v1/gateway/{device_id}/telemetry" in acl
    assert "allow_anonymous false" in (tmp_path / "broker" / "cityhub-auth.conf").read_text()


def test_device_ids_of_service_accounts_are_refused(cli: Cli) -> None:
    code, output = run(cli, "device", "add", "--kind", "cctv", "--id", "cityhub-sim")
    assert code == 1
    assert "reserved" in output


def test_stored_hashes_are_of_the_printed_token(cli: Cli, db: Conn) -> None:
    (device_id,) = ids("hash", 1)
    _code, output = run(cli, "device", "add", "--kind", "cctv", "--id", device_id, "--json")
    token = str(json_lines(output)[0]["token"])
    row = db.execute("SELECT token_hash, broker_hash FROM hub.devices WHERE id = %s",
                     (device_id,)).fetchone()
    assert row is not None
    assert str(row[0]).startswith("hmac-sha256$")
    assert check(token_keys.KEYS, str(row[0]), token).ok
    assert verify_broker_hash(str(row[1]), token)
