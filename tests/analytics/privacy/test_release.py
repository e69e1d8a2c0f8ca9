"""Releases against a real database: `cityhub privacy release|verify|releases`, the record,
the open-schema tables and view, the analyst's SQL, refusal by the linkage attack, the
catalogue, and the deletion of releases whose processing period has ended."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from analytics.privacy import release
from analytics.privacy.errors import BadReleaseParams, ReleaseRefused
from analytics.privacy.method import Period
from analytics.privacy.synth_meters import make_meters, write_meters
from hub.analyst_sql import create_analyst_login
from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.datasets.sources import catalogue_plan
from hub.datasets.stats import run_sync
from hub.scratch import scratch_database
from tests.fix_analytics import AnalyticsProcess
from tests.helpers import Conn
from tests.waiting import wait_for

pytestmark = pytest.mark.integration
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
END = START + timedelta(days=2)
PERIOD = Period(START, END)
LEGAL = {"purpose": "research on evening peaks", "recipients": ["Seoul Energy Lab"],
         "processing_period_end": (datetime.now(UTC) + timedelta(days=90)).isoformat()}


@pytest.fixture(scope="module")
def url(pg_admin_url: str, catalogue: Catalogue) -> Iterator[str]:
    """A database of this module's own with 1,000 households and two days of readings."""
    with scratch_database(pg_admin_url, "cityhub_release", catalogue) as own:
        with psycopg.connect(own, autocommit=True) as conn:
            write_meters(conn, make_meters(1000, START, days=2))
        yield own


@pytest.fixture
def conn(url: str) -> Iterator[Conn]:
    with psycopg.connect(url, autocommit=True) as c:
        yield c


def cli(url: str, *args: str) -> tuple[int, str]:
    _plugins()
    result = CliRunner().invoke(app, ["privacy", *args], env={"CITYHUB_DATABASE_URL": url, "COLUMNS": "300"})
    return result.exit_code, result.stdout + result.stderr


def params_file(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(json.dumps({**LEGAL, **extra}), encoding="utf-8")  # JSON is YAML too
    return path


def tables(conn: Conn) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'anon'").fetchall()
    return {str(r[0]) for r in rows}


def test_a_meter_release_is_published_recorded_and_verified(url: str, conn: Conn, tmp_path: Path) -> None:
    code, out = cli(url, "release", "meter_load", "--params", str(params_file(tmp_path)),
                    "--from", START.isoformat(), "--to", END.isoformat(), "--json")
    assert code == 0, out
    record = json.loads(out)
    version = record["version"]
    assert record["relation"] == f"anon.meter_load_v{version}"
    assert record["measures"]["k"] >= 100
    assert record["measures"]["max_share"] <= 0.15
    assert record["linkage_success"] <= 0.01
    assert record["epsilon"] == 0
    assert record["purpose"] == LEGAL["purpose"]
    assert record["recipients"] == LEGAL["recipients"]
    assert "energy_kwh" in record["items"]
    assert "households" in record["items"]
    # The view shows the latest version; every cell covers at least 100 households.
    rows = conn.execute(sql.SQL("SELECT min(households), count(*) FROM anon.meter_load")).fetchone()
    assert rows is not None
    assert int(str(rows[0])) >= 100
    assert rows[1] == record["row_count"]
    # No pseudonym, household id or device id in the published table.
    columns = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'anon' "
                           "AND table_name = %s", (f"meter_load_v{version}",)).fetchall()
    assert {str(c[0]) for c in columns} == {"bucket_start", "bucket_hours", "district", "zones",
                                            "household_type", "households", "energy_kwh", "mean_kw"}
    code, out = cli(url, "verify", "meter_load")
    assert code == 0, out
    assert "households per cell: fewest" in out
    assert "open-schema scan" in out


def test_a_household_release_is_verified_by_pycanon(url: str, tmp_path: Path) -> None:
    code, out = cli(url, "release", "meter_households", "--params", str(params_file(tmp_path)),
                    "--from", START.isoformat(), "--to", END.isoformat())
    assert code == 0, out
    code, out = cli(url, "verify", "meter_households", "--json")
    assert code == 0, out
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["k-anonymity (pycanon)"]["ok"]
    assert checks["l-diversity (pycanon)"]["ok"]


def test_the_analyst_reads_releases_and_their_records_in_sql(url: str, conn: Conn,
                                                             tmp_path: Path) -> None:
    release.make_release(conn, "meter_load", release.parse_request(LEGAL), PERIOD, actor="test")
    name, password = f"test_analyst_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    create_analyst_login(conn, name, password, actor="tests")
    analyst = make_conninfo("", **{**conninfo_to_dict(url), "user": name, "password": password})
    try:
        with psycopg.connect(analyst, autocommit=True) as mine:
            row = mine.execute("SELECT count(*) FROM anon.meter_load").fetchone()
            assert row is not None
            assert int(str(row[0])) > 0
            found = mine.execute("SELECT dataset, measures ->> 'k', purpose FROM anon.releases "
                                 "WHERE dataset = 'meter_load'").fetchall()
            assert found
            assert all(int(str(k)) >= 100 for _, k, _ in found)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                mine.execute("SELECT 1 FROM hub.releases")
    finally:
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_releases_are_in_the_catalogue_with_measures_and_legal_record(
        conn: Conn) -> None:
    made = release.make_release(conn, "meter_load", release.parse_request(LEGAL), PERIOD, actor="test")
    datasets = run_sync(conn, catalogue_plan())
    latest, pinned = datasets["meter_load"], datasets[made.name]
    assert latest.relation == ("anon", "meter_load")
    assert pinned.relation == ("anon", made.table)
    assert latest.privacy == "anonymised"
    assert latest.release is not None
    assert latest.release["version"] == made.version
    assert latest.release["legal_record"]["purpose"] == LEGAL["purpose"]
    assert latest.release["measures"]["cells_suppressed"] >= 0
    assert latest.release["linkage_success"] == made.linkage_success


def test_a_release_whose_linkage_attack_succeeds_is_refused_and_nothing_is_written(
        conn: Conn) -> None:
    before = tables(conn), conn.execute("SELECT count(*) FROM hub.releases").fetchone()
    # Cells of 100 households or more keep the attack's success near 1/100: a threshold
    # below that refuses the release.
    request = release.parse_request({**LEGAL, "linkage_threshold": 0.0001})
    with pytest.raises(ReleaseRefused, match=r"attack re-identified .* above the threshold of 0\.01%"):
        release.make_release(conn, "meter_load", request, PERIOD, actor="test")
    assert (tables(conn), conn.execute("SELECT count(*) FROM hub.releases").fetchone()) == before


def test_expired_releases_are_deleted_and_the_deletion_recorded(url: str, conn: Conn,
                                                                tmp_path: Path) -> None:
    request = release.parse_request(LEGAL)
    old = release.make_release(conn, "meter_load", request, PERIOD, actor="test")
    new = release.make_release(conn, "meter_load", request, PERIOD, actor="test")
    now = datetime.now(UTC)
    conn.execute("UPDATE hub.releases SET period_end = %s WHERE dataset = 'meter_load' AND version >= %s",
                 (now - timedelta(seconds=1), old.version))
    code, out = cli(url, "release", "--expire")
    assert code == 0, out
    assert f"deleted meter_load_v{new.version}" in out
    assert old.table not in tables(conn)
    assert new.table not in tables(conn)
    gone = conn.execute("SELECT deleted_at IS NOT NULL, deletion_reason FROM hub.releases "
                        "WHERE dataset = 'meter_load' AND version = %s", (new.version,)).fetchone()
    assert gone is not None
    assert gone[0]
    assert "processing period ended" in str(gone[1])
    # The view moved back to the newest live version (made by the earlier tests), or went.
    live = conn.execute("SELECT max(version) FROM hub.releases WHERE dataset = 'meter_load' "
                        "AND deleted_at IS NULL").fetchone()
    view = conn.execute("SELECT definition FROM pg_views WHERE schemaname = 'anon' "
                        "AND viewname = 'meter_load'").fetchone()
    if live is None or live[0] is None:
        assert view is None
    else:
        assert view is not None
        assert f"meter_load_v{live[0]}" in str(view[0])
    # Nothing left to delete: a second run is a no-op.
    assert release.expire(conn) == []


def test_a_params_file_without_the_legal_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("parameters: {min_households: 100}\n", encoding="utf-8")
    with pytest.raises(BadReleaseParams, match="purpose, recipients, processing_period_end"):
        release.load_request(path)


def test_a_release_after_its_processing_period_is_refused(conn: Conn) -> None:
    ended = release.parse_request({**LEGAL, "processing_period_end": "2020-01-01T00:00Z"})
    with pytest.raises(ReleaseRefused, match="processing period ended"):
        release.make_release(conn, "meter_load", ended, PERIOD, actor="test")


def test_the_analytics_service_deletes_expired_releases(url: str, conn: Conn, tmp_path: Path) -> None:
    made = release.make_release(conn, "meter_households", release.parse_request(LEGAL), PERIOD, actor="test")
    conn.execute("UPDATE hub.releases SET period_end = now() WHERE dataset = %s AND version = %s",
                 (made.dataset, made.version))
    service = AnalyticsProcess(url, tmp_path / "analytics.log")
    service.start()
    try:
        wait_for(lambda: made.table not in tables(conn), timeout=30, what="the expired release to go")
    finally:
        service.stop()
    row = conn.execute("SELECT deleted_at IS NOT NULL FROM hub.releases WHERE dataset = %s AND version = %s",
                       (made.dataset, made.version)).fetchone()
    assert row == (True,)
    assert "deleted 1 release(s) whose processing period has ended" in service.log()
