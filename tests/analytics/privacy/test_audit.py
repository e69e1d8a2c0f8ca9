"""`cityhub privacy audit` against a real, migrated database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from analytics.privacy.audit import Read, judge, run_audit
from hub.catalogue import Catalogue
from hub.cli.main import _plugins, app
from hub.scratch import scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
def own_database(pg_admin_url: str, catalogue: Catalogue) -> Iterator[str]:
    """A migrated database of the test's own: its GRANTs must not reach other tests."""
    with scratch_database(pg_admin_url, "cityhub_audit", catalogue) as url:
        yield url


def _audit(url: str, *extra: str) -> tuple[int, str, str]:
    _plugins()
    result = CliRunner().invoke(app, ["privacy", "audit", *extra],
                                env={"CITYHUB_DATABASE_URL": url, "COLUMNS": "400"})
    return result.exit_code, result.stdout, result.stderr


def test_the_migrated_database_passes_and_shows_who_reads_what(database_url: str) -> None:
    code, out, err = _audit(database_url)
    assert code == 0, out + err
    assert "ok: no role but the administrator" in out
    code, out, _ = _audit(database_url, "--json")
    assert code == 0
    report = json.loads(out)
    roles = {r["role"]: r for r in report["roles"]}
    analyst, console = roles["cityhub_analyst"], roles["cityhub_console"]
    assert analyst["analyst"]
    assert not analyst["administrator"]
    assert {"anon.air_quality", "anon.devices"} <= set(analyst["reads"])
    assert all(name.startswith("anon.") for name in analyst["reads"])
    assert "hub.events" in console["reads"]
    assert not [n for n in console["reads"] if n.startswith("restricted.")]
    assert "hub.telemetry" in roles["cityhub_ingest"]["reads"]
    assert report["violations"] == []
    assert report["ok"] is True


def test_a_role_reading_pseudonyms_and_key_material_fails_the_audit(own_database: str) -> None:
    with psycopg.connect(own_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE restricted.key_escrow (version int PRIMARY KEY, key bytea)")
        assert run_audit(conn).ok  # only the administrator reads it so far
        conn.execute("GRANT USAGE ON SCHEMA restricted TO cityhub_console")
        conn.execute("GRANT SELECT ON restricted.key_escrow TO cityhub_console")
    code, out, err = _audit(own_database)
    assert code == 1
    said = " ".join(err.split())
    assert "role cityhub_console reads key material (restricted.key_escrow) and pseudonymised data" in said
    # The table shows it too: the console's row of the restricted schema.
    assert any("cityhub_console" in line and "restricted" in line and "key_escrow" in line
               for line in out.splitlines())


def test_an_analyst_reading_outside_anon_fails_the_audit(own_database: str) -> None:
    with psycopg.connect(own_database, autocommit=True) as conn:
        conn.execute("GRANT USAGE ON SCHEMA hub TO cityhub_analyst")
        conn.execute("GRANT SELECT (ts, subject) ON hub.events TO cityhub_analyst")  # columns count too
        audit = run_audit(conn)
    # Roles are the cluster's: analyst logins made by other tests (members of
    # cityhub_analyst, so they inherit the grant) are rightly reported too.
    by_role = {v.role: v for v in audit.violations}
    assert by_role["cityhub_analyst"].relations == ("hub.events",)
    assert all(v.relations == ("hub.events",) for v in audit.violations)
    code, out, _ = _audit(own_database, "--json")
    assert code == 1
    reported = {v["role"]: v for v in json.loads(out)["violations"]}
    assert reported["cityhub_analyst"]["rule"] == "analyst-outside-anon"
    assert "hub.events" in reported["cityhub_analyst"]["message"]


def test_usage_without_select_is_no_read_but_analyst_usage_on_hub_is_a_breach() -> None:
    schemas = [("cityhub_analyst", "hub"), ("cityhub_console", "restricted")]
    reads = [Read("cityhub_console", "hub", "events", "table", False)]
    found = judge(["cityhub_analyst", "cityhub_console", "postgres"], frozenset({"postgres"}),
                  frozenset({"cityhub_analyst"}), schemas, reads)
    assert [(v.role, v.rule) for v in found] == [("cityhub_analyst", "analyst-outside-anon")]
    assert "USAGE on schema hub" in found[0].message
    # The administrator may read everything.
    everything = [Read("postgres", "restricted", "key_escrow", "table", False),
                  Read("postgres", "hub", "events", "table", False)]
    assert judge(["postgres"], frozenset({"postgres"}), frozenset(), [], everything) == []
