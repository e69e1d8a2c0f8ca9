"""The issue's size: 2,000 households in zones some of which are small, a week of 15-minute
readings; both household releases made and verified, with what each achieves (docs/privacy.md,
"What the releases achieve")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics.privacy import release, verify
from analytics.privacy.method import Period
from analytics.privacy.synth_meters import make_meters, write_meters
from hub.catalogue import Catalogue
from hub.scratch import scratch_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=7)
LEGAL = {"purpose": "size test", "recipients": ["tests"],
         "processing_period_end": (datetime.now(UTC) + timedelta(days=1)).isoformat()}


@pytest.fixture(scope="module")
def city(pg_admin_url: str, catalogue: Catalogue) -> Iterator[str]:
    with scratch_database(pg_admin_url, "cityhub_release_size", catalogue) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            assert write_meters(conn, make_meters(2000, START, days=7)) == 2000 * 7 * 96
        yield url


def test_2000_households_a_week_meter_load(city: str) -> None:
    with psycopg.connect(city, autocommit=True) as conn:
        made = release.make_release(conn, "meter_load", release.parse_request(LEGAL),
                                    Period(START, START + timedelta(days=7)), actor="test")
        checked = verify.verify(conn, made.name)
    assert checked.ok, checked.checks
    m = made.measures
    assert m["households"] == 2000
    assert int(m["k"]) >= 100
    assert float(m["max_share"]) <= 0.15
    # Small zones are merged, the smallest groups suppressed, and both are counted.
    assert int(m["zone_groups_merged"]) > 0
    assert int(m["cells_suppressed"]) > 0
    assert 0 < float(m["utility_mae_kwh"]) < 1.0
    assert made.linkage_success <= 0.01
    assert made.epsilon == 0


def test_2000_households_a_week_household_bands(city: str) -> None:
    with psycopg.connect(city, autocommit=True) as conn:
        made = release.make_release(conn, "meter_households", release.parse_request(LEGAL),
                                    Period(START, START + timedelta(days=7)), actor="test")
        checked = verify.verify(conn, made.name, scan=False)
    assert checked.ok, checked.checks
    assert int(made.measures["k"]) >= 5
    assert int(made.measures["l"]) >= 2
    assert made.linkage_success == 0.0
