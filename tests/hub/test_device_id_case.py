"""Device ids that differ only in letter case ("DEVA" beside "devA") are refused: by the
database (migration 0008), by `cityhub device add` and `import`, with the registered id
named."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.device_import import ImportRow, plan_import
from hub.errors import AlreadyExists, HubError, MigrationError
from hub.migrate import migrate
from hub.registry import add_device, existing_ids
from hub.scratch import scratch_database
from tests.helpers import Conn


def _row(line: int, device_id: str) -> ImportRow:
    return ImportRow(line, device_id, "air_quality", None, None, None, None)


def test_an_import_plan_refuses_case_twins_within_the_file_and_of_registered_devices() -> None:
    plan = plan_import([_row(2, "aq-1"), _row(3, "AQ-1"), _row(4, "Aq-Reg"), _row(5, "aq-reg"),
                        _row(6, "aq-2")], [], {"aq-reg": "air_quality"})
    assert [r.id for r in plan.create] == ["aq-1", "aq-2"]
    assert [r.id for r in plan.present] == ["aq-reg"]
    problems = {e.line: e.message for e in plan.errors}
    assert set(problems) == {3, 4}
    assert "'AQ-1' differs only in letter case from 'aq-1' on line 2" in problems[3]
    assert "differs only in letter case from the registered device 'aq-reg'" in problems[4]


@pytest.mark.integration
def test_the_database_refuses_a_case_twin_whatever_registers_it(db: Conn, catalogue: Catalogue) -> None:
    device_id = f"devA-{secrets.token_hex(3)}"
    add_device(db, catalogue, device_id, "air_quality")
    with pytest.raises(AlreadyExists) as refused:
        add_device(db, catalogue, device_id.upper(), "air_quality")
    assert f"differs only in letter case from the registered device {device_id!r}" in str(refused.value)
    with pytest.raises(AlreadyExists, match="is registered already"):
        add_device(db, catalogue, device_id, "air_quality")
    # Not only the registry's own INSERT: the unique index of migration 0008 holds for any.
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO hub.devices (id, kind, token_hash) VALUES (%s, 'air_quality', 'x')",
                   (device_id.lower(),))
    assert existing_ids(db, [device_id.lower()]) == {device_id: "air_quality"}


def _cli(database_url: str, *args: str) -> tuple[int, str]:
    _plugins()
    result = CliRunner().invoke(app, list(args), env={"CITYHUB_DATABASE_URL": database_url})
    error = f"error: {result.exception}" if isinstance(result.exception, HubError) else ""
    return result.exit_code, " ".join((result.output + error).split())


@pytest.mark.integration
def test_device_add_names_the_registered_device(database_url: str) -> None:
    device_id = f"aq-Case-{secrets.token_hex(3)}"
    code, _ = _cli(database_url, "device", "add", "--kind", "air_quality", "--id", device_id)
    assert code == 0
    code, output = _cli(database_url, "device", "add", "--kind", "air_quality", "--id", device_id.lower())
    assert code != 0
    assert (f"Device id {device_id.lower()!r} differs only in letter case from the registered "
            f"device {device_id!r}") in output


@pytest.mark.integration
def test_device_import_reports_case_twins_and_imports_nothing(database_url: str, tmp_path: Path) -> None:
    registered = f"aq-imp-{secrets.token_hex(3)}"
    assert _cli(database_url, "device", "add", "--kind", "air_quality", "--id", registered)[0] == 0
    new = f"aq-new-{secrets.token_hex(3)}"
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text(f"id,kind\n{new},air_quality\n{new.upper()},air_quality\n"
                        f"{registered.upper()},air_quality\n", encoding="utf-8")
    code, output = _cli(database_url, "device", "import", str(csv_file),
                        "--tokens-out", str(tmp_path / "tokens.csv"))
    assert code != 0
    assert (f"{csv_file}:3: device id {new.upper()!r} differs only in letter case from {new!r} "
            "on line 2") in output
    assert (f"{csv_file}:4: Device id {registered.upper()!r} differs only in letter case from the "
            f"registered device {registered!r}") in output
    assert "nothing was imported" in output
    with psycopg.connect(database_url) as conn:
        assert existing_ids(conn, [new]) == {}


@pytest.mark.integration
def test_migrating_a_registry_that_holds_case_twins_stops_and_names_them(
    pg_admin_url: str, catalogue: Catalogue
) -> None:
    with scratch_database(pg_admin_url, f"cityhub_twins_{os.getpid()}", catalogue) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            # The registry as it was before migration 0008.
            conn.execute("DROP INDEX hub.devices_id_lower")
            conn.execute("DELETE FROM hub.schema_migrations WHERE version = '0008'")
            for device_id in ("devA", "DEVA", "devB"):
                conn.execute("INSERT INTO hub.devices (id, kind, token_hash) "
                             "VALUES (%s, 'air_quality', 'x')", (device_id,))
        with pytest.raises(MigrationError) as stopped:
            migrate(url, catalogue)
        assert "differ only in letter case are registered: DEVA, devA." in str(stopped.value)
        assert "devB" not in str(stopped.value)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM hub.devices WHERE id = 'DEVA'")
        assert migrate(url, catalogue) == ["0008"]
