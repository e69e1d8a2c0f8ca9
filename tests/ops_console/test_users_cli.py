"""`cityhub user …` and the demo accounts of `cityhub up`."""

from __future__ import annotations

import json
import secrets
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli.main import _plugins, app
from hub.users import ensure_demo_accounts, verify_password
from tests.helpers import Conn

pytestmark = pytest.mark.integration


def test_add_list_passwd_disable(database_url: str, db: Conn) -> None:
    _plugins()
    runner, env = CliRunner(), {"CITYHUB_DATABASE_URL": database_url}
    name = f"cli-{secrets.token_hex(3)}"
    added = runner.invoke(app, ["user", "add", "--username", name, "--role", "analyst",
                                "--display-name", "김 분석", "--password-stdin"],
                          input="a-long-password\n", env=env)
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["user", "list", "--json"], env=env)
    mine = [json.loads(line) for line in listed.output.splitlines() if name in line]
    assert mine[0]["role"] == "analyst"
    assert mine[0]["display_name"] == "김 분석"
    assert "password" not in listed.output
    again = runner.invoke(app, ["user", "add", "--username", name, "--role", "analyst", "--password-stdin"],
                          input="a-long-password\n", env=env)
    assert again.exit_code == 1
    bad_role = runner.invoke(app, ["user", "add", "--username", "x2", "--role", "root", "--password-stdin"],
                             input="a-long-password\n", env=env)
    assert bad_role.exit_code == 1
    short = runner.invoke(app, ["user", "add", "--username", "x3", "--role", "admin", "--password-stdin"],
                          input="short\n", env=env)
    assert short.exit_code == 1
    assert runner.invoke(app, ["user", "passwd", name, "--password-stdin"], input="another-password\n",
                         env=env).exit_code == 0
    row = db.execute("SELECT password_hash FROM hub.users WHERE username = %s", (name,)).fetchone()
    assert row is not None
    assert verify_password(str(row[0]), "another-password")
    assert runner.invoke(app, ["user", "disable", name], env=env).exit_code == 0
    assert runner.invoke(app, ["user", "disable", "nobody-here"], env=env).exit_code == 1
    actions = [r[0] for r in db.execute("SELECT action FROM hub.audit_log WHERE target = %s ORDER BY id",
                                        (name,))]
    assert actions == ["user.add", "user.passwd", "user.disable"]


def test_demo_accounts_are_made_once_with_a_private_password_file(db: Conn, tmp_path: Path) -> None:
    path = tmp_path / "demo-accounts.json"
    db.execute("DELETE FROM hub.users WHERE username IN ('admin', 'operator', 'analyst')")
    ensure_demo_accounts(db, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = json.loads(path.read_text())
    assert set(first) == {"admin", "operator", "analyst"}
    assert first["analyst"]["role"] == "analyst"
    ensure_demo_accounts(db, path)
    assert json.loads(path.read_text()) == first
