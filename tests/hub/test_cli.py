"""The administrator's commands: migrate --status, device add/list, telemetry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from hub.cli.main import _plugins, app
from hub.device_tokens import check
from tests import token_keys
from tests.helpers import Conn, child_env

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(database_url: str) -> tuple[CliRunner, dict[str, str]]:
    _plugins()
    return CliRunner(), {"CITYHUB_DATABASE_URL": database_url, **token_keys.ENV}


def json_lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_device_add_prints_credentials_once_and_stores_only_a_hash(
    cli: tuple[CliRunner, dict[str, str]], db: Conn
) -> None:
    runner, env = cli
    result = runner.invoke(app, ["device", "add", "--kind", "air_quality", "--id", "aq-cli-001",
                                 "--zone", "jung-gu", "--lat", "37.56", "--lon", "126.97", "--json"],
                           env=env)
    assert result.exit_code == 0, result.output
    (created,) = json_lines(result.output)
    assert created["device_id"] == "aq-cli-001"
    assert created["kind"] == "air_quality"
    token = str(created["token"])
    row = db.execute("SELECT token_hash FROM hub.devices WHERE id = 'aq-cli-001'").fetchone()
    assert row is not None
    assert token not in str(row[0])
    assert check(token_keys.KEYS, str(row[0]), token).ok

    listed = runner.invoke(app, ["device", "list", "--kind", "air_quality", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    mine = [d for d in json_lines(listed.output) if d["device_id"] == "aq-cli-001"]
    assert mine[0]["zone"] == "jung-gu"
    assert "token" not in mine[0]


@pytest.mark.parametrize("bad", ["aq/1", "aq+1", "aq#1", "aq 1", "aq\x01"])
def test_device_add_refuses_ids_that_break_topics(cli: tuple[CliRunner, dict[str, str]], bad: str) -> None:
    runner, env = cli
    result = runner.invoke(app, ["device", "add", "--kind", "air_quality", "--id", bad], env=env)
    assert result.exit_code != 0


def test_device_add_refuses_an_unknown_kind_and_a_duplicate(
    cli: tuple[CliRunner, dict[str, str]]
) -> None:
    runner, env = cli
    unknown = runner.invoke(app, ["device", "add", "--kind", "volcano", "--id", "v-1"], env=env)
    assert unknown.exit_code == 1
    first = runner.invoke(app, ["device", "add", "--kind", "cctv", "--id", "cam-dup"], env=env)
    assert first.exit_code == 0
    again = runner.invoke(app, ["device", "add", "--kind", "cctv", "--id", "cam-dup"], env=env)
    assert again.exit_code == 1


def test_telemetry_prints_stored_readings_as_json(
    cli: tuple[CliRunner, dict[str, str]], db: Conn
) -> None:
    runner, env = cli
    assert runner.invoke(app, ["device", "add", "--kind", "air_quality", "--id", "aq-cli-tel"],
                         env=env).exit_code == 0
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    for i, (metric, value) in enumerate([("pm10", 11.0), ("pm25", 5.5), ("pm10", 12.0)]):
        db.execute("INSERT INTO hub.telemetry VALUES (%s, 'aq-cli-tel', %s, %s)",
                   (t0 + timedelta(minutes=i), metric, value))
    result = runner.invoke(app, ["telemetry", "aq-cli-tel", "--metric", "pm10", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json_lines(result.output) == [
        {"ts": t0.isoformat(), "metric": "pm10", "value": 11.0},
        {"ts": (t0 + timedelta(minutes=2)).isoformat(), "metric": "pm10", "value": 12.0},
    ]
    window = runner.invoke(app, ["telemetry", "aq-cli-tel", "--from", (t0 + timedelta(minutes=1)).isoformat(),
                                 "--to", (t0 + timedelta(minutes=2)).isoformat(), "--json"], env=env)
    assert [r["metric"] for r in json_lines(window.output)] == ["pm25"]


def test_migrate_status_shows_the_profile(cli: tuple[CliRunner, dict[str, str]]) -> None:
    runner, env = cli
    result = runner.invoke(app, ["migrate", "--status"], env=env)
    assert result.exit_code == 0, result.output
    assert "plain" in result.output
    assert "0003" in result.output


def test_errors_are_one_clear_sentence_without_a_traceback(database_url: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "CITYHUB_DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "hub", "device", "add", "--kind", "volcano", "--id", "v-2"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "Unknown device kind 'volcano'" in result.stderr
    assert "Traceback" not in result.stderr


def test_ingest_refuses_to_start_on_a_default_secret(database_url: str) -> None:
    import subprocess
    import sys

    env = child_env(CITYHUB_DATABASE_URL=database_url, CITYHUB_MQTT_URL="mqtt://127.0.0.1:1",
                    CITYHUB_SECRET_KEY="changeme")
    result = subprocess.run([sys.executable, "-m", "hub", "ingest"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "CITYHUB_SECRET_KEY" in result.stderr
