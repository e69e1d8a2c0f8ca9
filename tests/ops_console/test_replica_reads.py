"""CITYHUB_REPLICA_DATABASE_URL: the data scientists' reads (datasets API, `cityhub export`)
go to the replica, everything else to the primary.

A second database on the same server stands in for the replica; it holds other rows than
the primary, so an answer shows which one was read.
"""

from __future__ import annotations

import csv
import json
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.errors import ConfigError
from hub.scratch import scratch_database
from hub.settings import Settings, load_settings
from ops_console.app import create_app
from ops_console.testing import serve
from tests.helpers import new_device
from tests.ops_console.conftest import bearer

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
SPAN = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}


class Copies:
    """One zone with a device and its readings in each database."""

    def __init__(self, zone: str, primary_device: str, replica_device: str) -> None:
        self.zone, self.primary_device, self.replica_device = zone, primary_device, replica_device


def _readings(url: str, catalogue: Catalogue, zone: str, value: float) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        device = new_device(conn, catalogue, "air_quality", zone=zone)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO hub.telemetry VALUES (%s, %s, 'pm25', %s)",
                            [(T0 + timedelta(minutes=i), device, value) for i in range(10)])
    return device


@pytest.fixture(scope="module")
def replica_url(pg_admin_url: str, catalogue: Catalogue) -> Iterator[str]:
    with scratch_database(pg_admin_url, "cityhub_test_replica", catalogue) as url:
        yield url


@pytest.fixture(scope="module")
def copies(database_url: str, replica_url: str, catalogue: Catalogue) -> Copies:
    zone = f"zr-{secrets.token_hex(3)}"
    return Copies(zone, _readings(database_url, catalogue, zone, 1.0),
                  _readings(replica_url, catalogue, zone, 77.0))


def _rows(http: httpx.Client, token: str, zone: str) -> list[dict[str, object]]:
    response = http.get("/api/v1/datasets/air_quality/rows", params={"zone": zone, **SPAN},
                        headers=bearer(token))
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.mark.integration
def test_the_rows_api_reads_the_replica_when_one_is_set(
    console_settings: Settings, replica_url: str, copies: Copies, client: httpx.Client,
    token_for: Callable[[str], str],
) -> None:
    # The token was issued by the primary-only console; the replica-reading one checks it
    # against the primary too (users live there).
    token = token_for("analyst")
    without = _rows(client, token, copies.zone)
    assert {(r["device_id"], r["value"]) for r in without} == {(copies.primary_device, 1.0)}

    settings = console_settings.model_copy(update={"replica_database_url": replica_url})
    with serve(create_app(settings)) as server, server.client() as http:
        rows = _rows(http, token, copies.zone)
        assert len(rows) == 10
        assert {(r["device_id"], r["value"]) for r in rows} == {(copies.replica_device, 77.0)}
        # The catalogue entry (coverage, counts) comes from the replica as well.
        entry = http.get("/api/v1/datasets/air_quality", headers=bearer(token))
        assert entry.status_code == 200, entry.text
        # Operators' routes stay on the primary: the replica's device is unknown there.
        operator = token_for("operator")
        assert http.get(f"/api/v1/devices/{copies.primary_device}",
                        headers=bearer(operator)).status_code == 200
        assert http.get(f"/api/v1/devices/{copies.replica_device}",
                        headers=bearer(operator)).status_code == 404


@pytest.mark.integration
def test_export_reads_the_replica_when_one_is_set(
    database_url: str, replica_url: str, copies: Copies, tmp_path: Path,
) -> None:
    _plugins()
    out = tmp_path / "aq.csv"
    done = CliRunner().invoke(
        app, ["export", "air_quality", "--from", SPAN["from"], "--to", SPAN["to"],
              "--where", f"zone={copies.zone}", "-o", str(out)],
        env={"CITYHUB_DATABASE_URL": database_url, "CITYHUB_REPLICA_DATABASE_URL": replica_url})
    assert done.exit_code == 0, done.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["device_id"], float(r["value"])) for r in rows} == {(copies.replica_device, 77.0)}


def test_a_replica_url_that_is_not_postgresql_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"CITYHUB_REPLICA_DATABASE_URL: .*postgresql://"):
        load_settings({"CITYHUB_REPLICA_DATABASE_URL": "mysql://reader@db/cityhub"})
