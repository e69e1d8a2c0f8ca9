"""The catalogue of open datasets, loaded from ``catalogue.json`` into frozen dataclasses.

:func:`dataset_from_entry` turns one entry of that file's shape into a validated
:class:`Dataset`; entries from elsewhere (the anonymised releases) go through it too,
see hub/datasets/sources.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Any

from hub.datasets import UnknownDataset
from hub.errors import CatalogueError

COLUMN_TYPES = ("timestamp", "text", "double", "bigint", "boolean")
# The tables hub.time_statistics (migration 0015) gives the coverage of.
STATISTICS_TABLES = ("hub.telemetry", "hub.events")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    unit: str | None
    description: str


@dataclass(frozen=True, slots=True)
class Rollup:
    """A pre-aggregated relation of a series: per-bucket count, sum, min and max."""

    relation: tuple[str, str]
    time: str
    count: str
    sum: str
    min: str
    max: str
    width_minutes: int = 1  # its bucket width


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """A dataset that can be bucketed: one value column grouped by dimension columns."""

    value: str
    groups: tuple[str, ...]
    rollup: Rollup | None  # the finest of rollups
    rollups: tuple[Rollup, ...] = ()  # every rollup, finest first; the query layer picks


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    relation: tuple[str, str]  # (schema, view)
    title: dict[str, str]
    description: dict[str, str]
    time_column: str
    key: tuple[str, ...]  # unique, and the order of paged rows
    columns: tuple[Column, ...]
    filters: tuple[str, ...]
    series: SeriesSpec | None
    update_frequency: str
    licence: str
    privacy: str
    release: dict[str, Any] | None  # an anonymised release's parameters and proof
    # The time-series table (and its partitions or chunks) whose planner statistics
    # give the coverage and size of a large dataset; None: always counted exactly.
    statistics: tuple[str, str] | None
    # JSON lines and CSV of raw rows cover at most this span (None: any); see request.py.
    max_text_range: timedelta | None
    # The device kind whose metrics (and their units) the ``metric`` column takes.
    metrics_of: str | None = None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _relation(text: str) -> tuple[str, str]:
    schema, _, name = text.partition(".")
    if schema != "anon" or not name:
        raise CatalogueError(f"Dataset relation {text!r} must be a view of the anon schema.")
    return schema, name


def _statistics(name: str, table: str | None) -> tuple[str, str] | None:
    if not table:
        return None
    if table not in STATISTICS_TABLES:
        raise CatalogueError(f"Dataset {name}: statistics must be one of {', '.join(STATISTICS_TABLES)}, "
                             f"not {table!r}.")
    schema, _, relation = table.partition(".")
    return schema, relation


def dataset_from_entry(entry: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> Dataset:
    """A validated dataset from a catalogue entry (catalogue.json's shape); fields the
    entry leaves out come from *defaults*, else from catalogue.json's ``defaults``."""
    if defaults is None:
        defaults = _document().get("defaults", {})
    merged = {**defaults, **entry}
    columns = tuple(Column(c["name"], c["type"], c.get("unit"), c.get("description", ""))
                    for c in merged["columns"])
    names = {c.name for c in columns}
    for column in columns:
        if column.type not in COLUMN_TYPES:
            raise CatalogueError(f"Column {column.name!r} of {merged['name']} has type {column.type!r}.")
    for field in ("title", "description"):
        missing = {"en", "ko"} - set(merged[field])
        if missing:  # the catalogue is bilingual: `cityhub datasets` and the API show both
            raise CatalogueError(f"The {field} of {merged['name']} lacks {', '.join(sorted(missing))}.")
    series = None
    if merged.get("series"):
        s = merged["series"]
        # "rollup": one object, or a list of them from the finest to the coarsest.
        given = s.get("rollup") or []
        rollups = tuple(Rollup(_relation(r["relation"]), r["time"], r["count"], r["sum"], r["min"],
                               r["max"], int(r.get("width_minutes", 1)))
                        for r in (given if isinstance(given, list) else [given]))
        series = SeriesSpec(s["value"], tuple(s["groups"]), rollups[0] if rollups else None, rollups)
    dataset = Dataset(
        name=merged["name"], relation=_relation(merged["relation"]), title=dict(merged["title"]),
        description=dict(merged["description"]), time_column=merged["time_column"],
        key=tuple(merged["key"]), columns=columns, filters=tuple(merged["filters"]), series=series,
        update_frequency=merged["update_frequency"], licence=merged["licence"],
        privacy=merged["privacy"], release=merged.get("release"),
        statistics=_statistics(merged["name"], merged.get("statistics")),
        max_text_range=(timedelta(days=merged["max_text_range_days"])
                        if merged.get("max_text_range_days") else None),
        metrics_of=merged.get("metrics_of"),
    )
    used = {dataset.time_column, *dataset.key, *dataset.filters}
    if series is not None:
        used |= {series.value, *series.groups}
    if not used <= names:
        raise CatalogueError(f"Dataset {dataset.name} names columns it lacks: {sorted(used - names)}.")
    return dataset


@cache
def _document() -> dict[str, Any]:
    text = resources.files("hub.datasets").joinpath("catalogue.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def load_datasets() -> dict[str, Dataset]:
    """Every dataset of the shipped catalogue, by name, in catalogue order (without the
    entries of hub/datasets/sources.py, which need the database)."""
    document = _document()
    defaults = document.get("defaults", {})
    return {e["name"]: dataset_from_entry(e, defaults) for e in document["datasets"]}


def find_dataset(datasets: Mapping[str, Dataset], name: str) -> Dataset:
    found = datasets.get(name)
    if found is None:
        known = ", ".join(datasets)
        raise UnknownDataset(f"No dataset named {name!r}; the catalogue has: {known}.")
    return found


def get_dataset(name: str) -> Dataset:
    """A dataset of the shipped catalogue (catalogue.json) by name."""
    return find_dataset(load_datasets(), name)
