"""The releases in the data scientists' catalogue (hub/datasets/sources.py's extension point).

Every live release appears twice: ``<dataset>`` (the view on its latest version) and
``<dataset>_v<n>`` (that version's table), with ``privacy: "anonymised"`` and a
``release`` object holding its parameters, measures (k, l, suppressed cells, epsilon,
linkage success, utility) and legal record (purpose, items, recipients, processing
period). Registered in pyproject.toml under ``cityhub.datasets``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

from psycopg import sql

from analytics.privacy import records
from analytics.privacy.records import ReleaseRecord

_TITLES = {
    "meter_load": {"en": "Household electricity per zone, hour and household type (anonymised)",
                   "ko": "구역·시간·가구유형별 가구 전력 사용량 (익명처리)"},
    "meter_households": {"en": "Households' weekly consumption band by zone and type (k-anonymous)",
                         "ko": "구역·가구유형별 가구 주간 사용량 구간 (k-익명)"},
    "meter_energy_dp": {"en": "Household electricity sums per zone and bucket (differentially private)",
                        "ko": "구역·시간대별 가구 전력 사용량 합계 (차분 프라이버시)"},
    "cctv_event_counts_dp": {"en": "CCTV events per zone, hour and type (differentially private)",
                             "ko": "구역·시간·유형별 CCTV 이벤트 수 (차분 프라이버시)"},
    "cctv_movement": {"en": "People moving between zones per hour, from CCTV (aggregated, cells ≥ 5)",
                      "ko": "CCTV 기반 시간별 구역 간 이동 인원 (집계, 셀당 5명 이상)"},
}
_COLUMNS = {
    "bucket_start": "Start of the time bucket (UTC); buckets start at midnight in Seoul.",
    "bucket_hours": "Length of the bucket in hours (longer where short ones were unsafe).",
    "district": "District (gu) of the cell's zones; '*' for zones merged city-wide.",
    "zones": "The zones whose households the cell sums, comma-separated.",
    "household_type": "family, single_worker, single_elderly, vacant (or a generalised group).",
    "households": "Households in the cell (at least min_households).",
    "energy_kwh": "Energy drawn by the cell's households in the bucket.",
    "mean_kw": "Mean power per household over the bucket.",
    "period_start": "Start of the release's input range (UTC).",
    "row": "Row number (rows are sorted on their values; it says nothing of a household).",
    "zone": "Zone, or its district or '*' where generalised.",
    "consumption_band": "Weekly consumption band in kWh (the sensitive attribute).",
}
_UNITS = {"energy_kwh": "kWh", "mean_kw": "kW", "bucket_hours": "h"}


def _key(columns: Sequence[tuple[str, str]]) -> list[str]:
    names = [n for n, _ in columns]
    if "row" in names:
        return ["row"]
    return [n for n, t in columns if t in ("timestamp", "text")]


def entry(record: ReleaseRecord, name: str, relation: str) -> dict[str, Any]:
    """One catalogue entry of catalogue.json's shape."""
    title = _TITLES.get(record.dataset, {"en": f"Anonymised release {record.dataset}",
                                         "ko": f"익명처리 공개 데이터 {record.dataset}"})
    if name != record.dataset:
        title = {lang: f"{text} — v{record.version}" for lang, text in title.items()}
    time_column = next((n for n, t in record.columns if t == "timestamp"), record.columns[0][0])
    return {
        "name": name, "relation": f"anon.{relation}", "title": title,
        "description": {"en": f"Release {record.name} ({record.method}) of "
                              f"{record.input_start:%Y-%m-%d %H:%M} … {record.input_end:%Y-%m-%d %H:%M} UTC, "
                              f"for: {record.purpose}. Available until {record.period_end:%Y-%m-%d}.",
                        "ko": f"공개 {record.name} ({record.method}): "
                              f"{record.input_start:%Y-%m-%d %H:%M} … {record.input_end:%Y-%m-%d %H:%M} UTC, "
                              f"목적: {record.purpose}. {record.period_end:%Y-%m-%d}까지 제공."},
        "time_column": time_column, "key": _key(record.columns),
        "columns": [{"name": n, "type": t, "unit": _UNITS.get(n), "description": _COLUMNS.get(n, "")}
                    for n, t in record.columns],
        "filters": [n for n, t in record.columns if t == "text"], "series": None,
        "update_frequency": "a new version per release", "privacy": "anonymised",
        "max_text_range_days": None, "release": release_document(record),
    }


def release_document(record: ReleaseRecord) -> dict[str, Any]:
    return {
        "name": record.name, "dataset": record.dataset, "version": record.version,
        "created_at": record.created_at.isoformat(),
        "input": {"from": record.input_start.isoformat(), "to": record.input_end.isoformat()},
        "method": record.method, "parameters": dict(record.params), "measures": dict(record.measures),
        "linkage_success": record.linkage_success, "epsilon": record.epsilon,
        "quasi_identifiers": list(record.quasi_identifiers), "sensitive": list(record.sensitive),
        "legal_record": {"purpose": record.purpose, "items": list(record.items),
                         "recipients": list(record.recipients),
                         "processing_period_end": record.period_end.isoformat()},
    }


def entries(found: Sequence[ReleaseRecord]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    latest = {r.dataset: r for r in found}  # ordered by dataset, version: the last one wins
    for record in found:
        if latest[record.dataset] is record:
            out.append(entry(record, record.dataset, record.dataset))
        out.append(entry(record, record.name, record.table))
    return out


Step = tuple[sql.Composed, tuple[object, ...]]


def catalogue_entries() -> Generator[Step, list[Any], list[Mapping[str, Any]]]:
    """The plan hub/datasets/sources.py runs: one query, then the entries."""
    rows = yield (records.LIVE, ())
    return entries([records.record_from_row(row) for row in rows])
