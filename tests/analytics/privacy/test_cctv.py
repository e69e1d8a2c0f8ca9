"""The CCTV releases on a day of synthetic detections in a real database: pseudonymised
as ingest does, counted with differential privacy, movement only in cells of 5 or more
(checked against SQL written apart from the method), nothing personal published."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pandas as pd
import psycopg
import pytest

from analytics.privacy import ledger
from analytics.privacy.cctv import CCTV_METHODS, EventCountsDP
from analytics.privacy.cctv_movement import Movement
from analytics.privacy.errors import ReleaseRefused
from analytics.privacy.method import Period
from analytics.privacy.scan import scan_open_schema
from analytics.privacy.synth_cctv import ZONES, CctvDay, detections, write_day
from hub.catalogue import Catalogue
from hub.datasets.sources import catalogue_plan
from hub.datasets.stats import run_sync
from hub.pseudonym import PseudonymKeys
from tests.helpers import Conn

pytestmark = pytest.mark.integration

KEYS = PseudonymKeys(1, {1: bytes(range(32))})
DAY = (datetime.now(UTC) - timedelta(days=200)).date()
START = datetime.combine(DAY, time(0), tzinfo=UTC)
PERIOD = Period(START, START + timedelta(days=1))
PERSONAL = (re.compile(r"pn\d+_[0-9a-f]{32}"),  # a pseudonym
            re.compile(r"\d{2,3}[가-힣]\d{4}"),  # a Korean licence plate
            re.compile(r"trk-"))  # a camera's raw track id


@pytest.fixture(scope="module")
def cctv(database_url: str, catalogue: Catalogue) -> tuple[str, CctvDay]:
    """One day of CCTV detections, long enough ago that no other test writes events then."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return database_url, write_day(conn, catalogue, KEYS, DAY, people=300, vehicles=60)


@pytest.fixture
def conn(cctv: tuple[str, CctvDay]) -> Iterator[Conn]:
    with psycopg.connect(cctv[0], autocommit=True) as c:
        yield c


def personal_values(table: pd.DataFrame) -> list[str]:
    text = table.astype(str).to_numpy().ravel().tolist() + [str(c) for c in table.columns]
    return [v for v in text if any(p.search(v) for p in PERSONAL)]


def test_both_cctv_datasets_are_offered() -> None:
    assert sorted(m.dataset for m in CCTV_METHODS) == ["cctv_event_counts_dp", "cctv_movement"]


def test_plates_and_tracks_are_stored_as_ingest_pseudonymises_them(
        conn: Conn, cctv: tuple[str, CctvDay]) -> None:
    stored = {(str(r[0]), str(r[1])) for r in conn.execute(
        "SELECT device_id, subject FROM hub.events WHERE subject IS NOT NULL").fetchall()}
    raw = detections(DAY, people=300, vehicles=60)
    track = next(d for d in raw if "track_id" in d.payload)
    plate = next(d for d in raw if "licence_plate" in d.payload)
    # Tracks under the key of their UTC day, plates under the stable key.
    assert (track.device_id, KEYS.pseudonymise(track.payload["track_id"], DAY)) in stored
    assert (plate.device_id, KEYS.pseudonymise(plate.payload["licence_plate"])) in stored
    assert events_in_period(conn) == cctv[1].events
    assert not conn.execute("SELECT 1 FROM hub.events WHERE attributes::text ~ 'trk-|[가-힣]' "
                            "AND ts >= %s AND ts < %s", (PERIOD.start, PERIOD.end)).fetchone()


def test_event_counts_are_released_with_their_noise_and_utility(
        conn: Conn, cctv: tuple[str, CctvDay]) -> None:
    method = EventCountsDP()
    data = method.load(conn, PERIOD)
    released = method.release(data, dict(method.defaults))
    table = released.table
    assert len(table) == 24 * len(camera_zones(conn)) * len(catalogue_types(conn))  # every cell
    assert set(table["zone"]) == set(camera_zones(conn)) >= set(ZONES)
    assert (table["count"] >= 0).all()
    assert personal_values(table) == []
    m = released.measures
    assert released.epsilon == m["epsilon_spent"] == 1.0
    assert (m["sensitivity"], m["noise_scale"]) == (8, 8.0)
    assert m["events_true"] == events_in_period(conn) >= cctv[1].events
    assert 0 < float(m["utility_mae"]) < 3 * 8.0  # within a few noise scales of the truth
    assert released.linkage_success < 0.05


def test_movement_is_published_only_in_cells_of_five_tracks(conn: Conn) -> None:
    method = Movement()
    released = method.release(method.load(conn, PERIOD), dict(method.defaults))
    table = released.table
    assert list(table.columns) == ["hour", "from_zone", "to_zone", "tracks"]
    assert len(table) > 0
    assert (table["tracks"] >= 5).all()
    assert personal_values(table) == []
    # The same moves counted in SQL, apart from the method: successive detections of a
    # subject on one day, in two zones, each subject once per hour and pair of zones.
    truth = {(pd.Timestamp(str(r[0])), str(r[1]), str(r[2])): int(str(r[3])) for r in conn.execute("""
        WITH seen AS (
            SELECT e.ts, e.subject, d.zone,
                   lag(d.zone) OVER (PARTITION BY e.subject, (e.ts AT TIME ZONE 'UTC')::date
                                     ORDER BY e.ts) AS before
            FROM hub.events e JOIN hub.devices d ON d.id = e.device_id
            WHERE e.subject IS NOT NULL AND e.ts >= %s AND e.ts < %s)
        SELECT date_trunc('hour', ts, 'UTC'), before, zone, count(DISTINCT subject)
        FROM seen WHERE before IS NOT NULL AND before <> zone GROUP BY 1, 2, 3""",
        (PERIOD.start, PERIOD.end)).fetchall()}
    published = {(r.hour, r.from_zone, r.to_zone): r.tracks for r in table.itertuples()}
    assert published == {cell: n for cell, n in truth.items() if n >= 5}
    small = [n for n in truth.values() if n < 5]
    assert small, "the synthetic day should have rare moves to suppress"
    m = released.measures
    assert (m["cells_suppressed"], m["transitions_suppressed"]) == (len(small), sum(small))
    assert released.linkage_success == 0.0


def test_releases_go_through_the_framework_and_spend_the_budget(conn: Conn) -> None:
    from analytics.privacy.release import ReleaseRequest, make_release

    request = ReleaseRequest(purpose="mobility research", recipients=("city lab",),
                             period_end=datetime.now(UTC) + timedelta(days=30),
                             params={"epsilon": 1.0})
    spent = ledger.budget(conn, "cctv_event_counts_dp")
    total = 1.5 + (0.0 if spent is None else spent.spent)  # other tests may release it too
    ledger.set_budget(conn, "cctv_event_counts_dp", total)
    record = make_release(conn, "cctv_event_counts_dp", request, PERIOD, actor="test")
    assert record.epsilon == 1.0
    assert ledger.remaining(conn, "cctv_event_counts_dp") == pytest.approx(0.5)
    with pytest.raises(ReleaseRefused, match=rf"0\.5 of {total:g} remains"):
        make_release(conn, "cctv_event_counts_dp", request, PERIOD, actor="test")
    moves = make_release(conn, "cctv_movement", ReleaseRequest(
        purpose="mobility research", recipients=("city lab",), period_end=request.period_end),
        PERIOD, actor="test")
    assert moves.epsilon == 0.0
    rows = conn.execute("SELECT min(tracks), count(*) FROM anon.cctv_movement").fetchone()
    assert rows is not None
    assert int(str(rows[0])) >= 5
    counted = conn.execute("SELECT count(*) FROM anon.cctv_event_counts_dp").fetchone()
    assert counted == (24 * len(camera_zones(conn)) * len(catalogue_types(conn)),)
    assert [f for f in scan_open_schema(conn) if ".cctv_" in f.relation] == []
    # Both are offered to data scientists, in both languages, with what they cost.
    datasets = run_sync(conn, catalogue_plan())
    for name in ("cctv_event_counts_dp", "cctv_movement"):
        entry = datasets[name]
        assert set(entry.title) == {"en", "ko"}
        assert set(entry.description) == {"en", "ko"}
        assert entry.privacy == "anonymised"
        assert entry.release is not None
    assert datasets["cctv_event_counts_dp"].release is not None
    assert datasets["cctv_event_counts_dp"].release["epsilon"] == 1.0


def events_in_period(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM hub.events e JOIN hub.devices d ON d.id = e.device_id "
                       "AND d.kind = 'cctv' WHERE e.ts >= %s AND e.ts < %s",
                       (PERIOD.start, PERIOD.end)).fetchone()
    return int(str(row[0])) if row else 0


def camera_zones(conn: Conn) -> set[str]:
    return {str(r[0]) for r in conn.execute(
        "SELECT DISTINCT coalesce(zone, '') FROM hub.devices WHERE kind = 'cctv'").fetchall()}


def catalogue_types(conn: Conn) -> list[str]:
    return [str(r[0]) for r in conn.execute(
        "SELECT jsonb_object_keys(spec -> 'events') FROM hub.device_kinds WHERE name = 'cctv'").fetchall()]

