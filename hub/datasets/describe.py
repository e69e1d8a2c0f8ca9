"""A catalogue entry as a JSON document: what ``/api/v1/datasets`` and
``cityhub datasets show --json`` print."""

from __future__ import annotations

from functools import cache
from typing import Any

from hub.catalogue import load_catalogue
from hub.datasets.catalogue import Dataset
from hub.datasets.request import BUCKETS, FORMATS
from hub.datasets.stats import DatasetStats
from hub.timeseries_query import AGGREGATES


def access_examples(dataset: Dataset) -> dict[str, str]:
    """How to query the dataset over the API, with the pandas client, and in SQL."""
    name, t = dataset.name, dataset.time_column
    view = ".".join(dataset.relation)
    span = "from=2026-05-01T00:00Z&to=2026-05-02T00:00Z"
    if dataset.series is not None:
        api = f"GET /api/v1/datasets/{name}/rows?{span}&zone=jung-gu&metric=pm25&bucket=1h&agg=avg,max"
        client = (f"client.read({name!r}, '2026-05-01', '2026-06-01', bucket='1h', "
                  "zone='jung-gu', metric='pm25')")
        # Examples for people to read (S608): never executed, and built from the catalogue.
        query = (f"SELECT date_bin('1 hour', {t}, TIMESTAMPTZ '2000-01-01Z') AS hour, avg(value) "  # noqa: S608
                 f"FROM {view} WHERE zone = 'jung-gu' AND metric = 'pm25' AND {t} >= '2026-05-01Z' "
                 f"AND {t} < '2026-06-01Z' GROUP BY 1 ORDER BY 1")
    else:
        api = f"GET /api/v1/datasets/{name}/rows?{span}&format=parquet"
        client = f"client.read({name!r}, '2026-05-01', '2026-05-02')"
        query = f"SELECT * FROM {view} WHERE {t} >= '2026-05-01Z' AND {t} < '2026-05-02Z'"  # noqa: S608
    return {"api": api, "client": client, "sql": query}


@cache
def metrics_of(kind: str) -> tuple[dict[str, str], ...]:
    """The metrics of a device kind with their units and titles (hub/kinds.json)."""
    return tuple({"name": m.name, "unit": m.unit, "title": m.title}
                 for m in load_catalogue().kind(kind).metrics.values())


def entry(dataset: Dataset, stats: DatasetStats | None) -> dict[str, Any]:
    """The catalogue entry of *dataset*; *stats* None leaves coverage and rows empty."""
    return {
        "name": dataset.name,
        "title": dataset.title,
        "description": dataset.description,
        "time_column": dataset.time_column,
        "columns": [{"name": c.name, "type": c.type, "unit": c.unit, "description": c.description}
                    for c in dataset.columns],
        "key": list(dataset.key),
        # What the ``metric`` column takes, each with the unit of its values.
        "metrics": [dict(m) for m in metrics_of(dataset.metrics_of)] if dataset.metrics_of else [],
        "coverage": {
            "first": stats.first.isoformat() if stats and stats.first else None,
            "last": stats.last.isoformat() if stats and stats.last else None,
            "exact": stats.exact if stats else None,
        },
        "rows": stats.rows if stats else None,
        "rows_exact": stats.exact if stats else None,
        "update_frequency": dataset.update_frequency,
        "licence": dataset.licence,
        "privacy": dataset.privacy,
        "release": dataset.release,
        "filters": list(dataset.filters),
        "buckets": list(BUCKETS) if dataset.series else [],
        "aggregates": list(AGGREGATES) if dataset.series else [],
        "group_columns": list(dataset.series.groups) if dataset.series else [],
        "formats": list(FORMATS),
        "max_text_range_days": dataset.max_text_range.days if dataset.max_text_range else None,
        "sql_view": ".".join(dataset.relation),
        "access": access_examples(dataset),
    }
