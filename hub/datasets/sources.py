"""The extension point of the catalogue: datasets described somewhere else than
catalogue.json, such as the anonymised releases (smart meters, CCTV movement), whose
entries are rows of the database's table of releases.

A source is a function registered under the entry-point group ``cityhub.datasets``
(pyproject.toml) — so hub/ imports nothing of the package that provides it — taking
no argument and returning a plan: a generator that yields ``(query, params)`` steps,
is sent each step's rows, and returns its catalogue entries (dicts of
catalogue.json's shape: ``privacy: "anonymised"`` and a ``release`` object with the
parameters and proof; ``relation`` a view or table of ``anon`` that the console and
cityhub_analyst may read). For example::

    def catalogue_entries() -> EntriesPlan:
        rows = yield (sql.SQL("SELECT entry FROM hub.releases WHERE current"), ())
        return [row[0] for row in rows]

    # pyproject.toml
    [project.entry-points."cityhub.datasets"]
    releases = "analytics.privacy.records:catalogue_entries"

:func:`catalogue_plan` gives the whole catalogue, run by hub.datasets.stats.run_sync
(the CLI) or run_async (the console) on a connection. Entries are validated as the
shipped ones are; one that repeats a name is an error, never a silent override.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from hub.datasets.catalogue import Dataset, dataset_from_entry, load_datasets
from hub.datasets.stats import Plan
from hub.errors import CatalogueError

GROUP = "cityhub.datasets"
EntriesPlan = Plan[list[Mapping[str, Any]]]
Source = Callable[[], EntriesPlan]


@cache  # scanning the installed packages costs ms on the event loop; they do not change
def registered_sources() -> tuple[tuple[str, Source], ...]:
    """The sources installed under :data:`GROUP`, by name."""
    return tuple((ep.name, ep.load())
                 for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name))


def catalogue_plan(sources: Sequence[tuple[str, Source]] | None = None) -> Plan[dict[str, Dataset]]:
    """Every dataset: catalogue.json's, then each source's (*sources*, default the
    registered ones), by name in that order."""
    datasets = dict(load_datasets())
    for source_name, source in registered_sources() if sources is None else sources:
        entries = yield from source()
        for entry in entries:
            try:
                dataset = dataset_from_entry(entry)
            except (KeyError, TypeError, ValueError) as exc:
                raise CatalogueError(f"Catalogue source {source_name!r} gave a bad entry: {exc!r}.") from exc
            if dataset.name in datasets:
                raise CatalogueError(f"Catalogue source {source_name!r} repeats the dataset name "
                                     f"{dataset.name!r}.")
            datasets[dataset.name] = dataset
    return datasets
