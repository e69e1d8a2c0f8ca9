"""`cityhub bench query`'s pure parts: the plan of its data, the ranges it measures, the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.doc_sections import replace_section
from ops_console.bench_query.cli import login_url
from ops_console.bench_query.data import plan
from ops_console.bench_query.measure import Comparison, Export, Latencies, span
from ops_console.bench_query.report import HEADING, MIB, Run, render

NOW = datetime(2025, 3, 31, 10, 42, 7, tzinfo=UTC)


def test_the_issue_size_is_43_2_million_readings_ending_at_the_last_full_hour() -> None:
    data = plan(1000, 30, NOW)
    assert data.rows == 43_200_000
    assert data.end == datetime(2025, 3, 31, 10, tzinfo=UTC)
    assert data.end - data.start == timedelta(days=30)
    assert data.device(7) == "bench-aq-00007"


def test_the_export_range_holds_the_rows_asked_for_or_all_there_are() -> None:
    data = plan(1000, 30, NOW)
    lo, hi, rows = span(data, 10_000_000)
    assert (lo, rows) == (data.start, 10_000_000)
    assert hi - lo == timedelta(minutes=10_000)
    small = plan(10, 1, NOW)
    assert span(small, 10_000_000) == (small.start, small.end, small.rows)


def test_the_analyst_login_replaces_the_user_of_the_url() -> None:
    url = "postgresql://postgres@127.0.0.1:5432/cityhub_bench_query_1"
    assert login_url(url, "bench_analyst_1", "p/w@") == \
        "postgresql://bench_analyst_1:p%2Fw%40@127.0.0.1:5432/cityhub_bench_query_1"


def _run(p99_s: float, rows_per_s: float, peak_mib: float, client_s: float) -> Run:
    data = plan(1000, 30, NOW)
    return Run(
        data,
        Latencies("1,000 stations, 30 days, 1 h buckets", 720_000, tuple([p99_s / 2] * 99 + [p99_s])),
        Latencies("one station, 30 days, 1 h buckets", 720, (0.004, 0.005)),
        Export(10_000_000, 10_000_000 / rows_per_s, 200 * MIB, int(150 * MIB), int(peak_mib * MIB)),
        Comparison(1_000_000, (client_s,) * 3, (2.0,) * 3),
        600.0,
    )


def test_the_report_marks_each_target_met_or_missed() -> None:
    good = {figure: target for figure, _value, target in _run(0.05, 2e6, 120, 0.2).rows()}
    bad = {figure: target for figure, _value, target in _run(0.5, 5e5, 400, 1.0).rows()}
    assert [t[-1] for t in good.values() if t] == ["✓"] * 4
    assert [t[-1] for t in bad.values() if t] == ["✗"] * 4
    ratio = next(v for f, v, _t in _run(0.05, 2e6, 120, 0.2).rows() if f.startswith("… ratio"))
    assert ratio == "10.0×"


def test_the_section_replaces_only_its_own() -> None:
    document = "# Benchmarks\n\n## Ingest\n\nfigures\n\n## Query and export\n\nold\n"
    section = render(_run(0.05, 2e6, 120, 0.2), "cityhub bench query")
    updated = replace_section(document, section, HEADING)
    assert "## Ingest\n\nfigures" in updated
    assert "old" not in updated
    assert "| … ratio read_sql / client | 10.0× | ≥ 5× ✓ |" in updated
    assert "43,200,000 rows" in updated
