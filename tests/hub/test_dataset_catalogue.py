"""The catalogue: what every entry tells (both languages, types and units, licence,
privacy, how to query), coverage and row counts that never scan a large time-series
table, and the extension point through which the anonymised releases add entries."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from hub.catalogue import Catalogue, load_catalogue
from hub.cli.main import _plugins, app
from hub.datasets import UnknownDataset
from hub.datasets.catalogue import COLUMN_TYPES, Dataset, find_dataset, load_datasets
from hub.datasets.describe import entry
from hub.datasets.sources import EntriesPlan, catalogue_plan
from hub.datasets.stats import Step, dataset_stats, run_sync
from hub.errors import CatalogueError
from tests.helpers import Conn, new_device

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=20)
SERIES_TABLES = ("telemetry", "events", "telemetry_1m")


def test_every_entry_tells_what_a_data_scientist_needs() -> None:
    metric_units = {m.name: m.unit for m in load_catalogue().kind("air_quality").metrics.values()}
    for dataset in load_datasets().values():
        e = entry(dataset, None)
        for text in ("title", "description"):
            assert e[text]["en"], (dataset.name, text)
            assert any("\uac00" <= ch <= "\ud7a3" for ch in e[text]["ko"])  # Hangul
        assert e["columns"]
        for column in e["columns"]:
            assert column["type"] in COLUMN_TYPES
            assert "unit" in column
            assert column["description"]
        assert e["licence"].startswith("Korea Open Government License")
        assert e["privacy"] == "not personal"
        assert e["update_frequency"]
        assert set(e["access"]) == {"api", "client", "sql"}
        assert e["sql_view"] in e["access"]["sql"]
        assert f"/api/v1/datasets/{dataset.name}/rows" in e["access"]["api"]
        if "metric" in dataset.column_names:
            assert {m["name"]: m["unit"] for m in e["metrics"]} == metric_units
    assert find_dataset(load_datasets(), "air_quality").column("value") is not None
    with pytest.raises(UnknownDataset):
        find_dataset(load_datasets(), "nope")


class Recording:
    """A connection that remembers every statement run through it."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.statements: list[Step] = []

    def execute(self, query: sql.SQL | sql.Composed, params: tuple[object, ...]) -> psycopg.Cursor[Any]:
        self.statements.append((query, params))
        return self.conn.execute(query, params)


def scanned(conn: Conn, step: Step) -> set[str]:
    """The relations the plan of *step* reads."""
    plan = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) {}").format(step[0]), step[1]).fetchone()
    assert plan is not None
    found: set[str] = set()

    def walk(node: Mapping[str, Any]) -> None:
        if "Relation Name" in node:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    document = cast(list[dict[str, Any]], plan[0])
    walk(document[0]["Plan"])
    return found


@pytest.fixture
def recent(db: Conn, catalogue: Catalogue) -> tuple[datetime, datetime]:
    """A station's readings and a camera's events over 20 days, analysed as autovacuum would."""
    station = new_device(db, catalogue, "air_quality", zone=f"zs-{secrets.token_hex(3)}")
    camera = new_device(db, catalogue, "cctv", zone=f"zs-{secrets.token_hex(3)}")
    times = [T0 + timedelta(hours=i) for i in range(20 * 24)]
    with db.cursor() as cur:
        cur.executemany("INSERT INTO hub.telemetry VALUES (%s, %s, 'pm25', 12.5)",
                        [(t, station) for t in times])
        cur.executemany("INSERT INTO hub.events (ts, device_id, type, severity) VALUES (%s, %s, 'fire', "
                        "'critical')", [(t, camera) for t in [*times[:-1:24], times[-1]]])
    db.execute("ANALYZE hub.telemetry, hub.events")
    return times[0], times[-1]


def test_a_large_table_is_never_scanned_for_coverage_or_counts(
    db: Conn, recent: tuple[datetime, datetime]
) -> None:
    first, last = recent
    db.execute("SET ROLE cityhub_console")  # as the console runs it
    try:
        for dataset in load_datasets().values():
            recording = Recording(db)
            # exact_below=0: the figures of a table of any size, as for a large one.
            stats = run_sync(cast(psycopg.Connection[Any], recording), dataset_stats(dataset, exact_below=0))
            if dataset.statistics is None:
                assert stats.exact  # the registry: small, counted
                continue
            assert not stats.exact
            assert stats.first is not None, dataset.name
            assert stats.last is not None, dataset.name
            assert stats.first <= first, dataset.name
            assert stats.last >= last - timedelta(hours=1), dataset.name
            assert stats.rows > 0
            for step in recording.statements:
                text = step[0].as_string(db)
                assert "count(" not in text.lower(), text
                if not text.startswith("EXPLAIN"):  # EXPLAIN plans, it does not run
                    read = scanned(db, step)
                    assert not {r for r in read if r.startswith(SERIES_TABLES)}, (text, read)
    finally:
        db.execute("RESET ROLE")


def test_a_small_table_is_counted_exactly(db: Conn, recent: tuple[datetime, datetime]) -> None:
    devices = run_sync(db, dataset_stats(find_dataset(load_datasets(), "devices")))
    count = db.execute("SELECT count(*) FROM anon.devices").fetchone()
    assert devices.exact
    assert count == (devices.rows,)


def release_entry(name: str, relation: str = "anon.devices") -> dict[str, Any]:
    shipped = json.loads(json.dumps(entry(find_dataset(load_datasets(), "devices"), None)))
    return {
        "name": name, "relation": relation, "title": {"en": "Test release", "ko": "시험 공개"},
        "description": {"en": "A release for the test.", "ko": "시험용 공개."},
        "time_column": "registered_at", "key": ["device_id"], "columns": shipped["columns"],
        "filters": ["zone"], "update_frequency": "on each release", "privacy": "anonymised",
        "release": {"version": 3, "k": 5, "l": 2}, "max_text_range_days": None,
    }


def source_of(*entries: dict[str, Any]) -> EntriesPlan:
    # The way a source reads its entries: one query, here a literal instead of a table.
    rows = yield (sql.SQL("SELECT %s::jsonb"), (json.dumps(list(entries)),))
    return list(rows[0][0])


def test_a_source_adds_entries_to_the_catalogue_cli_and_api_shape(
    db: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"meters_test_{secrets.token_hex(2)}"
    datasets = run_sync(db, catalogue_plan([("releases", lambda: source_of(release_entry(name)))]))
    assert list(datasets)[:len(load_datasets())] == list(load_datasets())
    release: Dataset = datasets[name]
    assert release.privacy == "anonymised"
    assert entry(release, None)["release"] == {"version": 3, "k": 5, "l": 2}

    for bad in (release_entry("air_quality"), release_entry(name + "x", relation="hub.devices")):
        with pytest.raises(CatalogueError):
            run_sync(db, catalogue_plan([("releases", partial(source_of, bad))]))

    # The CLI lists what the registered sources give.
    _plugins()
    monkeypatch.setattr("hub.datasets.sources.registered_sources",
                        lambda: [("releases", lambda: source_of(release_entry(name)))])
    shown = CliRunner().invoke(app, ["datasets", "show", name, "--json"],
                               env={"CITYHUB_DATABASE_URL": database_url})
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.output)
    assert document["privacy"] == "anonymised"
    assert document["rows_exact"] is True
