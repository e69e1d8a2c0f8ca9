"""`cityhub datasets list|show` and `cityhub export` against PostgreSQL; and
`cityhub user analyst-sql` making a login that reads the open schema."""

from __future__ import annotations

import csv
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from tests.helpers import Conn, new_device

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=40)


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    _plugins()
    return {"CITYHUB_DATABASE_URL": database_url}


@pytest.fixture
def station(db: Conn, catalogue: Catalogue) -> tuple[str, str]:
    zone = f"zx-{secrets.token_hex(3)}"
    device = new_device(db, catalogue, "air_quality", zone=zone)
    with db.cursor() as cur:
        # Every 10 minutes for 35 days: longer than the HTTP bound on raw CSV.
        cur.executemany("INSERT INTO hub.telemetry VALUES (%s, %s, 'pm25', %s)",
                        [(T0 + timedelta(minutes=10 * i), device, float(i % 50)) for i in range(35 * 144)])
    return zone, device


def test_datasets_list_and_show(env: dict[str, str], station: tuple[str, str]) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["datasets", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    entries = {e["name"]: e for e in map(json.loads, listed.output.splitlines())}
    assert entries["air_quality"]["rows"] >= 35 * 144
    assert datetime.fromisoformat(entries["air_quality"]["coverage"]["first"]) <= T0
    shown = runner.invoke(app, ["datasets", "show", "cctv_event_counts"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "자치구" in shown.output
    assert "not personal" in shown.output
    assert "anon.cctv_event_counts" in shown.output
    aq = runner.invoke(app, ["datasets", "show", "air_quality"], env=env)
    assert aq.exit_code == 0, aq.output
    for text in ("대기질", "pm25 (µg/m³)", "KOGL", "API:", "client.read(", "SQL:"):
        assert text in aq.output, text
    table = runner.invoke(app, ["datasets", "list"], env={**env, "COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    assert all(name in table.output for name in entries)
    missing = runner.invoke(app, ["datasets", "show", "nope"], env=env)
    assert missing.exit_code != 0


def test_export_writes_every_row_in_each_format(env: dict[str, str], station: tuple[str, str],
                                                tmp_path: Path) -> None:
    zone, device = station
    runner = CliRunner()
    end = T0 + timedelta(days=35)
    span = ["--from", T0.isoformat(), "--to", end.isoformat(), "--where", f"zone={zone}"]
    out = tmp_path / "aq.parquet"
    done = runner.invoke(app, ["export", "air_quality", *span, "-o", str(out)], env=env)
    assert done.exit_code == 0, done.output
    table = pq.read_table(out)
    assert table.num_rows == 35 * 144
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert set(table.column("device_id").to_pylist()) == {device}

    text = tmp_path / "aq.csv"
    done = runner.invoke(app, ["export", "air_quality", *span, "-o", str(text)], env=env)
    assert done.exit_code == 0, done.output
    with text.open() as handle:
        assert len(list(csv.DictReader(handle))) == 35 * 144

    daily = tmp_path / "daily.arrow"
    done = runner.invoke(app, ["export", "air_quality", *span, "--bucket", "1d", "--agg", "count,max",
                               "--columns", "zone", "--format", "arrow", "-o", str(daily)], env=env)
    assert done.exit_code == 0, done.output
    with pa.memory_map(str(daily)) as source:
        days = pa.ipc.open_stream(source).read_all().to_pylist()
    assert [d["count"] for d in days] == [144] * 35
    assert {d["max"] for d in days} == {49.0}
    assert not list(tmp_path.glob("*.partial"))

    bad = runner.invoke(app, ["export", "air_quality", *span, "--bucket", "7m", "-o", str(out)], env=env)
    assert bad.exit_code != 0
    assert "bucket" in str(bad.exception)


def test_user_analyst_sql_makes_a_login_for_the_open_schema(
    env: dict[str, str], database_url: str, db: Conn, tmp_path: Path
) -> None:
    name = f"test_cli_analyst_{secrets.token_hex(3)}"
    secret = tmp_path / "pw"
    secret.write_text(secrets.token_urlsafe(16) + "\n")
    done = CliRunner().invoke(app, ["user", "analyst-sql", name, "--password-file", str(secret),
                                    "--statement-timeout", "5s"], env=env)
    try:
        assert done.exit_code == 0, done.output
        url = make_conninfo("", **{**conninfo_to_dict(database_url), "user": name,
                               "password": secret.read_text().strip()})
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
            conn.execute("SELECT * FROM anon.devices LIMIT 1")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM hub.devices LIMIT 1")
    finally:
        db.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
