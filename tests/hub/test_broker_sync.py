"""The broker files follow registry changes in any order of set-up, and a pid file that
names no running broker is not an error and never gets another process signalled."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.errors import HubError
from hub.mqtt_access import INGEST_ACCOUNT
from hub.scratch import scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_url(pg_admin_url: str, catalogue: Catalogue) -> Iterator[str]:
    """A database of its own: no ingest account yet (the session database has one)."""
    with scratch_database(pg_admin_url, f"cityhub_sync_{os.getpid()}", catalogue) as url:
        yield url


def cityhub(env: dict[str, str], *args: str) -> tuple[int, str]:
    _plugins()
    result = CliRunner().invoke(app, list(args), env=env)
    error = f"error: {result.exception}" if isinstance(result.exception, HubError) else ""
    return result.exit_code, " ".join((result.output + error).split())


def test_a_device_added_before_the_ingest_account_reaches_the_broker_files(
    fresh_url: str, tmp_path: Path
) -> None:
    broker_dir = tmp_path / "broker"
    pid_file = tmp_path / "run" / "mosquitto.pid"  # no broker started yet
    env = {"CITYHUB_DATABASE_URL": fresh_url, "CITYHUB_BROKER_DIR": str(broker_dir),
           "CITYHUB_BROKER_PID_FILE": str(pid_file)}
    code, output = cityhub(env, "device", "add", "--kind", "air_quality", "--id", "aq-early")
    assert code == 0, output
    assert "aq-early:$7$" in (broker_dir / "passwd").read_text()
    hint = f"the ingest service has no broker account yet: `cityhub broker account {INGEST_ACCOUNT}`"
    assert hint in output
    assert "the broker is not running" in output
    assert "warning" not in output

    code, output = cityhub(env, "broker", "account", INGEST_ACCOUNT)
    assert code == 0, output
    logins = [line.split(":")[0] for line in (broker_dir / "passwd").read_text().splitlines()]
    assert logins == ["aq-early", INGEST_ACCOUNT]


def test_broker_config_with_a_stale_pid_file_writes_the_files_and_signals_nobody(
    fresh_url: str, tmp_path: Path
) -> None:
    env = {"CITYHUB_DATABASE_URL": fresh_url}
    assert cityhub(env, "broker", "account", INGEST_ACCOUNT)[0] == 0
    missing = tmp_path / "none.pid"
    code, output = cityhub(env, "broker", "config", "--dir", str(tmp_path / "a"), "--pid-file", str(missing))
    assert code == 0, output
    assert f"the broker is not running (no live process in {missing})" in output

    # A pid file left by a broker that died, whose number another program has now.
    other = subprocess.Popen(["sleep", "60"])
    try:
        stale = tmp_path / "stale.pid"
        stale.write_text(f"{other.pid}\n", encoding="ascii")
        code, output = cityhub(env, "broker", "config", "--dir", str(tmp_path / "b"),
                               "--pid-file", str(stale))
        assert code == 0, output
        assert "the broker is not running" in output
        assert other.poll() is None, "a process that is not the broker got SIGHUP"
    finally:
        other.kill()
        other.wait()
    assert (tmp_path / "b" / "passwd").exists()
