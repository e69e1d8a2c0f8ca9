"""The catalogue of open datasets, loaded from ``catalogue.json`` into frozen dataclasses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Any

from hub.datasets import UnknownDataset
from hub.errors import CatalogueError

COLUMN_TYPES = ("timestamp", "text", "double", "bigint", "boolean")


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


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """A dataset that can be bucketed: one value column grouped by dimension columns."""

    value: str
    groups: tuple[str, ...]
    rollup: Rollup | None


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
    # The table (and its partitions or chunks) whose planner statistics give the
    # coverage of a large dataset; None: always counted exactly.
    statistics: tuple[str, str, str] | None
    # JSON lines and CSV of raw rows cover at most this span (None: any); see request.py.
    max_text_range: timedelta | None

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


def _statistics(entry: dict[str, str] | None) -> tuple[str, str, str] | None:
    if not entry:
        return None
    schema, _, table = entry["table"].partition(".")
    return schema, table, entry["column"]


def _dataset(entry: dict[str, Any], defaults: dict[str, Any]) -> Dataset:
    merged = {**defaults, **entry}
    columns = tuple(Column(c["name"], c["type"], c.get("unit"), c.get("description", ""))
                    for c in merged["columns"])
    names = {c.name for c in columns}
    for column in columns:
        if column.type not in COLUMN_TYPES:
            raise CatalogueError(f"Column {column.name!r} of {merged['name']} has type {column.type!r}.")
    series = None
    if merged.get("series"):
        s = merged["series"]
        rollup = None
        if s.get("rollup"):
            r = s["rollup"]
            rollup = Rollup(_relation(r["relation"]), r["time"], r["count"], r["sum"], r["min"], r["max"])
        series = SeriesSpec(s["value"], tuple(s["groups"]), rollup)
    dataset = Dataset(
        name=merged["name"], relation=_relation(merged["relation"]), title=dict(merged["title"]),
        description=dict(merged["description"]), time_column=merged["time_column"],
        key=tuple(merged["key"]), columns=columns, filters=tuple(merged["filters"]), series=series,
        update_frequency=merged["update_frequency"], licence=merged["licence"],
        privacy=merged["privacy"], release=merged.get("release"),
        statistics=_statistics(merged.get("statistics")),
        max_text_range=(timedelta(days=merged["max_text_range_days"])
                        if merged.get("max_text_range_days") else None),
    )
    used = {dataset.time_column, *dataset.key, *dataset.filters}
    if series is not None:
        used |= {series.value, *series.groups}
    if not used <= names:
        raise CatalogueError(f"Dataset {dataset.name} names columns it lacks: {sorted(used - names)}.")
    return dataset


@cache
def load_datasets() -> dict[str, Dataset]:
    """Every dataset of the shipped catalogue, by name, in catalogue order."""
    text = resources.files("hub.datasets").joinpath("catalogue.json").read_text("utf-8")
    document = json.loads(text)
    defaults = document.get("defaults", {})
    return {e["name"]: _dataset(e, defaults) for e in document["datasets"]}


def get_dataset(name: str) -> Dataset:
    found = load_datasets().get(name)
    if found is None:
        known = ", ".join(load_datasets())
        raise UnknownDataset(f"No dataset named {name!r}; the catalogue has: {known}.")
    return found
