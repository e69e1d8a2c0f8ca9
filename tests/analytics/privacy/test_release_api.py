"""/api/v1/releases (admin only for POST) and the releases in /api/v1/datasets, rows included."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from analytics.privacy.synth_meters import make_meters, write_meters
from hub.client import HubClient
from ops_console.testing import Accounts, ConsoleServer
from tests.ops_console.conftest import bearer

pytestmark = pytest.mark.integration
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=12)
BODY = {"dataset": "meter_load", "from": START.isoformat(), "to": (START + timedelta(hours=12)).isoformat(),
        "purpose": "load research", "recipients": ["Seoul Energy Lab"],
        "processing_period_end": (datetime.now(UTC) + timedelta(days=30)).isoformat()}


@pytest.fixture(scope="module")
def meters(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        write_meters(conn, make_meters(400, START, days=1, prefix=f"api{secrets.token_hex(3)}"))


def test_only_the_administrator_releases(meters: None, client: httpx.Client,
                                         token_for: Callable[[str], str]) -> None:
    refused = client.post("/api/v1/releases", json=BODY, headers=bearer(token_for("analyst")))
    assert refused.status_code == 403
    made = client.post("/api/v1/releases", json=BODY, headers=bearer(token_for("admin")))
    assert made.status_code == 201, made.text
    record = made.json()
    assert record["dataset"] == "meter_load"
    assert record["measures"]["k"] >= 100
    # Analysts find releases in the catalogue; the list of records is the administrator's.
    assert client.get("/api/v1/releases", headers=bearer(token_for("analyst"))).status_code == 403
    listed = client.get("/api/v1/releases", headers=bearer(token_for("admin")))
    assert listed.status_code == 200
    assert record["name"] in {r["name"] for r in listed.json()["releases"]}


def test_a_body_without_the_legal_record_is_a_400(client: httpx.Client,
                                                  token_for: Callable[[str], str]) -> None:
    body = {k: v for k, v in BODY.items() if k != "purpose"}
    answer = client.post("/api/v1/releases", json=body, headers=bearer(token_for("admin")))
    assert answer.status_code == 400
    assert "purpose" in answer.json()["detail"]


def test_a_refused_release_is_a_409_naming_the_attack(meters: None, client: httpx.Client,
                                                      token_for: Callable[[str], str]) -> None:
    answer = client.post("/api/v1/releases", json={**BODY, "linkage_threshold": 0.00001},
                         headers=bearer(token_for("admin")))
    assert answer.status_code == 409
    assert "linkage attack" in answer.json()["detail"]


def test_the_release_is_in_the_catalogue_and_its_rows_are_readable(
        meters: None, client: httpx.Client, token_for: Callable[[str], str]) -> None:
    made = client.post("/api/v1/releases", json=BODY, headers=bearer(token_for("admin"))).json()
    analyst = bearer(token_for("analyst"))
    catalogue = client.get("/api/v1/datasets", headers=analyst).json()["datasets"]
    entry = next(d for d in catalogue if d["name"] == made["name"])
    assert entry["privacy"] == "anonymised"
    assert entry["release"]["legal_record"]["purpose"] == "load research"
    assert entry["release"]["measures"]["k"] >= 100
    rows = client.get(f"/api/v1/datasets/{made['name']}/rows", headers=analyst,
                      params={"from": (START - timedelta(days=8)).isoformat(), "format": "jsonl"})
    assert rows.status_code == 200, rows.text
    lines = [json.loads(line) for line in rows.text.splitlines() if line]
    assert len(lines) == made["row_count"]
    assert min(line["households"] for line in lines) >= 100


def test_the_pandas_client_reads_a_release(meters: None, client: httpx.Client,
                                           token_for: Callable[[str], str],
                                           console_server: ConsoleServer, accounts: Accounts) -> None:
    made = client.post("/api/v1/releases", json=BODY, headers=bearer(token_for("admin"))).json()
    username, password = accounts.user_for("analyst")
    with HubClient(console_server.base_url, username=username, password=password) as hub:
        assert hub.datasets().loc[made["name"], "privacy"] == "anonymised"
        frame = hub.read(made["name"], START - timedelta(days=8), START + timedelta(days=1))
    assert len(frame) == made["row_count"]
    assert frame["households"].min() >= 100
