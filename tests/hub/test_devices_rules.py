"""Pure rules of provisioning and status: CSV parsing and connection state, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.catalogue import Catalogue, load_catalogue
from hub.device_import import parse_csv, plan_import
from hub.device_status import connection_state
from hub.errors import InvalidInput

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def kinds() -> Catalogue:
    return load_catalogue()


def test_parse_reads_columns_in_any_order_and_empty_cells_as_absent(kinds: Catalogue) -> None:
    rows, errors = parse_csv("\ufeffkind,id,lat,lon\r\nair_quality, aq-1 ,37.5,127\r\n\r\ncctv,cam-1,,\r\n",
                             kinds)
    assert errors == []
    assert [(r.line, r.id, r.kind, r.lat, r.lon, r.zone) for r in rows] == [
        (2, "aq-1", "air_quality", 37.5, 127.0, None), (4, "cam-1", "cctv", None, None, None)]


def test_parse_reports_each_bad_row_with_its_line(kinds: Catalogue) -> None:
    text = "id,kind,lat,lon\naq 1,air_quality,,\naq-2,,,\naq-3,air_quality,north,1\naq-4,cctv,1,\n"
    rows, errors = parse_csv(text, kinds)
    assert rows == []
    assert [(e.line, e.device_id) for e in errors] == [(2, "aq 1"), (3, "aq-2"), (4, "aq-3"), (5, "aq-4")]
    assert "whitespace" in errors[0].message
    assert "'north' is not a number" in errors[2].message
    assert "both lat and lon" in errors[3].message


def test_a_bad_header_refuses_the_whole_file(kinds: Catalogue) -> None:
    with pytest.raises(InvalidInput, match="unknown column"):
        parse_csv("id,kind,colour\n", kinds)
    with pytest.raises(InvalidInput, match="lacks the column"):
        parse_csv("id,zone\n", kinds)
    with pytest.raises(InvalidInput, match="empty"):
        parse_csv("\n\n", kinds)


def test_plan_skips_registered_ids_and_refuses_duplicates_and_unknown_gateways(kinds: Catalogue) -> None:
    rows, errors = parse_csv(
        "id,kind,gateway\nold-1,cctv,\ngw-1,gateway,\naq-1,air_quality,gw-1\naq-1,air_quality,\n"
        "aq-2,air_quality,gw-9\naq-3,air_quality,gw-old\n", kinds)
    plan = plan_import(rows, errors, {"old-1": "cctv", "gw-old": "gateway"})
    assert [r.id for r in plan.create] == ["gw-1", "aq-1", "aq-3"]
    assert [r.id for r in plan.present] == ["old-1"]
    assert [(e.line, e.device_id) for e in plan.errors] == [(5, "aq-1"), (6, "aq-2")]
    assert "line 4" in plan.errors[0].message


@pytest.mark.parametrize(("online", "seen_ago", "interval", "expected"), [
    (None, None, 60, "never"),
    (True, None, 60, "online"),
    (True, 30, 60, "online"),
    (None, 170, 60, "online"),
    (True, 181, 60, "offline"),
    (False, 5, 60, "offline"),
    (True, 2000, 900, "online"),
    (True, 2800, 900, "offline"),
])
def test_connection_state(online: bool | None, seen_ago: int | None, interval: int, expected: str) -> None:
    last_seen = None if seen_ago is None else NOW - timedelta(seconds=seen_ago)
    assert connection_state(online, last_seen, interval, NOW) == expected
