"""Migration 0017: a camera-seen fall goes to fire-119 (the 119 ambulance), as its SOP says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest

from analytics import store
from analytics.engine import Engine, Raised, VersionedRule
from analytics.rules import EventRow
from tests.helpers import Conn

pytestmark = pytest.mark.integration
INTERVALS = {"air_quality": 60.0, "cctv": 60.0, "smart_meter": 900.0}


def loaded_engine(database_url: str) -> tuple[Engine, list[store.RuleVersion]]:
    """The enabled rules as the analytics service loads them, and cctv-police's history."""
    async def go() -> tuple[Engine, list[store.RuleVersion]]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            rules = await store.list_rules(conn, enabled_only=True)
            return (Engine([VersionedRule(r.spec, r.version) for r in rules], INTERVALS),
                    await store.versions(conn, "cctv-police"))

    return asyncio.run(go())


def test_a_fall_is_raised_for_fire_119_and_violence_still_for_police_112(database_url: str, db: Conn) -> None:
    engine, police_history = loaded_engine(database_url)
    now = datetime.now(UTC)
    rows = [EventRow(now, "cam-1", "cctv", "jung-gu", t, "critical") for t in ("fall", "violence")]
    found = [(s.occurrence.rule_id, s.occurrence.alert_type, s.occurrence.severity, s.agency, s.version)
             for s in engine.events(rows) if isinstance(s, Raised)]
    assert found == [("cctv-fall:fall", "fall", "critical", "fire-119", 1),
                     ("cctv-police:violence", "violence", "critical", "police-112", 2)]
    # cctv-police's first version (with falls) stays in its history.
    assert [(v.version, "fall" in v.document["events"]) for v in police_history] == [(1, True), (2, False)]
    assert police_history[-1].note == "falls moved to cctv-fall (fire-119)"
    # The SOP the operator ticks for a fall names the same agency.
    sop = [str(text) for (text,) in db.execute(
        "SELECT text FROM hub.sop_items WHERE alert_type = 'fall' ORDER BY item_no").fetchall()]
    assert any("fire-119" in text for text in sop)
    assert not any("police-112" in text for text in sop)
