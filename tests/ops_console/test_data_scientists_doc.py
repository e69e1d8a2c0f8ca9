"""docs/data-scientists.md runs as written: every ```python block in one namespace and every
```sh block in bash, in file order, against a real console with a month of simulated
air-quality readings, so the guide cannot go stale.

The readings come from the simulator's own model (devices/sim/air_quality.py) for stations
in Jung-gu and Mapo-gu, one every ten minutes, COPYed into hub.telemetry, whose trigger
keeps the 1-minute rollup as ingest's writes do. The blocks read CITYHUB_URL, CITYHUB_USER,
CITYHUB_PASSWORD and CITYHUB_SQL_URL (a `cityhub user analyst-sql` login); the shell blocks
(psql among them) also get CITYHUB_DATABASE_URL. They run in a temporary directory, offline:
DuckDB's postgres extension comes from a wheel of the test extra.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd
import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from devices.sim.air_quality import AirQualityModel
from devices.sim.fleet import build_fleet
from devices.sim.zones import zones_named
from hub.analyst_sql import create_analyst_login
from hub.catalogue import Catalogue
from hub.registry import add_device
from hub.scratch import scratch_database
from hub.settings import load_settings
from hub.users import add_user
from ops_console.app import create_app
from ops_console.testing import serve

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-scientists.md"
RUN = {"python", "sh", "bash"}
SHOWN = {"text", "console"}  # output and install lines: shown, not run
STEP = timedelta(minutes=10)
DAYS = 31
_FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Block:
    line: int
    language: str
    code: str


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match and match.group(1):
            end = lines.index("```", i + 1)
            found.append(Block(i + 1, match.group(1), "\n".join(lines[i + 1:end])))
            i = end
        i += 1
    return found


def login_url(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}:{quote(password, safe='')}@"
                                            f"{parts.netloc.rpartition('@')[2]}"))


def simulate(database_url: str, catalogue: Catalogue, now: datetime) -> None:
    """Six stations of the simulator in two districts, PM2.5 and PM10 every ten minutes
    for the last DAYS days."""
    fleet = build_fleet({"air_quality": 6}, seed=11, zones=zones_named("jung,mapo"))
    model = AirQualityModel(fleet, seed=11)
    rng = random.Random(11)
    end = now.replace(second=0, microsecond=0)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT hub.maintain()")
        for device in fleet:
            add_device(conn, catalogue, device.id, device.kind, zone=device.zone, lat=device.lat,
                       lon=device.lon)
        with conn.cursor().copy("COPY hub.telemetry (ts, device_id, metric, value) FROM STDIN") as copy:
            moment = end - timedelta(days=DAYS)
            while moment < end:
                for device in fleet:
                    reading = model.reading(device.id, moment.timestamp(), rng)
                    copy.write_row((moment, device.id, "pm25", reading["pm25"]))
                    copy.write_row((moment, device.id, "pm10", reading["pm10"]))
                moment += STEP


@dataclass(frozen=True)
class DocHub:
    database_url: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def doc_hub(pg_admin_url: str, catalogue: Catalogue) -> Iterator[DocHub]:
    sql_login = f"doc_analyst_{secrets.token_hex(4)}"
    try:
        with scratch_database(pg_admin_url, f"cityhub_dsdoc_{os.getpid()}", catalogue) as url:
            simulate(url, catalogue, datetime.now(UTC))
            password, sql_password = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
            with psycopg.connect(url, autocommit=True) as conn:
                add_user(conn, "doc-analyst", "analyst", password, actor="tests")
                create_analyst_login(conn, sql_login, sql_password, actor="tests")
                conn.execute("VACUUM ANALYZE hub.telemetry, hub.telemetry_1m")
            settings = load_settings({}, database_url=url, secret_key=secrets.token_urlsafe(32))
            with serve(create_app(settings)) as server:
                yield DocHub(url, {
                    "CITYHUB_URL": server.base_url, "CITYHUB_USER": "doc-analyst",
                    "CITYHUB_PASSWORD": password, "CITYHUB_SQL_URL": login_url(url, sql_login, sql_password),
                })
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(sql_login)))


def test_the_guide_only_has_blocks_the_test_can_run_or_knows_are_shown() -> None:
    found = blocks(DOC.read_text(encoding="utf-8"))
    assert {b.language for b in found} <= RUN | SHOWN, [b for b in found if b.language not in RUN | SHOWN]
    assert sum(b.language == "python" for b in found) >= 5


def _run(block: Block, namespace: dict[str, object], env: dict[str, str]) -> None:
    where = f"docs/data-scientists.md:{block.line}"
    if block.language == "python":
        # The guide's code runs without a warning: what a reader copies must not nag them
        # (pandas warns on a connection it does not support, for one).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec(compile(block.code, where, "exec"), namespace)
        assert [str(w.message) for w in caught] == [], where
        return
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], capture_output=True, text=True,
                            env={**os.environ, **env, "PATH": path}, timeout=300, check=False)
    assert result.returncode == 0, f"{where}: {result.stderr}"


def test_every_block_of_the_guide_runs_and_shows_the_simulated_month(
    doc_hub: DocHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for key, value in doc_hub.env.items():
        monkeypatch.setenv(key, value)
    namespace: dict[str, object] = {"__name__": "data_scientists_doc"}
    env = {**doc_hub.env, "CITYHUB_DATABASE_URL": doc_hub.database_url}
    for block in blocks(DOC.read_text(encoding="utf-8")):
        if block.language in RUN:
            _run(block, namespace, env)

    # Step 2: the catalogue lists the air-quality datasets.
    catalogue = namespace["catalogue"]
    assert isinstance(catalogue, pd.DataFrame)
    assert {"air_quality", "air_quality_1h"} <= set(catalogue.index)
    # Step 3: 30 days of hours for the district, indexed by UTC time.
    pm25 = namespace["pm25"]
    start, end = namespace["start"], namespace["end"]
    assert isinstance(pm25, pd.DataFrame)
    assert isinstance(start, pd.Timestamp)
    assert isinstance(end, pd.Timestamp)
    assert isinstance(pm25.index, pd.DatetimeIndex)
    assert str(pm25.index.tz) == "UTC"
    assert len(pm25) == 30 * 24
    assert pm25.index.min() == start
    assert (pm25.index[1:] - pm25.index[:-1] == pd.Timedelta(hours=1)).all()
    assert (pm25["avg"] <= pm25["max"]).all()
    assert set(pm25["zone"]) == {"jung-gu"}
    hour = pm25.index[100].to_pydatetime()
    with psycopg.connect(doc_hub.database_url) as conn:
        row = conn.execute(
            "SELECT avg(t.value), count(*) FROM hub.telemetry t JOIN hub.devices d ON d.id = t.device_id "
            "WHERE d.zone = 'jung-gu' AND t.metric = 'pm25' AND t.ts >= %s AND t.ts < %s",
            (hour, hour + timedelta(hours=1))).fetchone()
        assert row is not None
        assert pm25["avg"].iloc[100] == pytest.approx(row[0])
        readings = conn.execute(
            "SELECT count(*) FROM hub.telemetry t JOIN hub.devices d ON d.id = t.device_id "
            "WHERE d.zone = 'jung-gu' AND t.ts >= %s AND t.ts < %s",
            (start.to_pydatetime(), end.to_pydatetime())).fetchone()
    # Step 4: the plot is a PNG.
    assert (tmp_path / "pm25-jung-gu.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Step 5: the Parquet file holds every reading of the district in the month.
    assert readings is not None
    assert readings[0] > 0
    assert pq.read_metadata(tmp_path / "air_quality-jung-gu.parquet").num_rows == readings[0]
    # Step 6: the refusal carries the hub's reason.
    assert "2h" in str(namespace["reason"])
    # Step 7: SQL over the analyst's login sees both districts.
    daily = namespace["daily"]
    assert isinstance(daily, pd.DataFrame)
    assert set(daily["zone"]) == {"jung-gu", "mapo-gu"}
    # SQL access: pandas through SQLAlchemy, DuckDB through its postgres extension.
    hourly, by_zone = namespace["hourly"], namespace["by_zone"]
    assert isinstance(hourly, pd.DataFrame)
    assert set(hourly["zone"]) == {"jung-gu", "mapo-gu"}
    assert isinstance(by_zone, pd.DataFrame)
    assert set(zip(by_zone["zone"], by_zone["metric"], strict=True)) == {
        (z, m) for z in ("jung-gu", "mapo-gu") for m in ("pm10", "pm25")}
    assert (by_zone["readings"] > 0).all()
    assert pq.read_metadata(tmp_path / "cctv.parquet").num_columns == 4
