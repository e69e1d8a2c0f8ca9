"""The four counts and the table, from made-up PUBACK logs and stored rows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from hub.bench.machine import Machine
from ingest.chaos.counts import tally
from ingest.chaos.lab import Outcome, Scale
from ingest.chaos.report import markdown, write_docs

A, B = "dev-a", "dev-b"


def test_each_count_is_what_its_name_says() -> None:
    published = [(A, 0), (A, 1), (A, 2), (B, 0), (B, 1)]
    acknowledged = {(A, 0), (A, 1), (A, 2), (B, 0)}  # (B, 1) never had its PUBACK
    stored = Counter({(A, 0): 1, (A, 2): 2, (B, 0): 1, (B, 1): 1})  # (A, 1) missing
    counts = tally(published, acknowledged, stored,
                   stored_when_fault_began={(A, 0)},
                   published_before_repair=[(A, 0), (A, 1), (A, 2), (B, 0)], dead_letters=3)
    assert counts.published == 5
    assert counts.acknowledged == 4
    assert counts.stored == 4
    assert counts.lost == 1  # (A, 1)
    assert counts.duplicated == 1  # (A, 2)
    assert counts.recovered == 2  # (A, 2) and (B, 0): stored only after the fault began
    assert counts.unexpected == 1  # (B, 1)
    assert counts.dead_letters == 3


def test_the_table_lands_in_its_own_section_and_keeps_the_others(tmp_path: Path) -> None:
    counts = tally([(A, 0), (A, 1)], {(A, 0), (A, 1)}, Counter({(A, 0): 1}))
    outcome = Outcome("broker SIGKILL", "kill -9", counts, 1, "bound: since the last save",
                      12.0, {"acked_since_save": 1.0})
    machine = Machine(2, "cpu", 4.0, "3.11", "15", "2.0.11", "2.1", "3.2")
    section = markdown([outcome], [("disk-full", "mount refused")], Scale(500, 10, 60),
                       machine, "cityhub bench chaos", datetime(2026, 12, 3, tzinfo=UTC))
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Ingest\n\nkept\n", encoding="utf-8")
    write_docs(docs, section)
    write_docs(docs, section)  # again: replaced, not appended
    text = docs.read_text(encoding="utf-8")
    assert text.count("## Chaos") == 1
    assert "## Ingest\n\nkept" in text
    assert "| broker SIGKILL | kill -9 | 2 | 2 | 1 | 0 |" in text
    assert "within the broker's bound" in text
    assert "| disk-full | not run: mount refused |" in text
