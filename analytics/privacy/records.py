"""The releases table (hub.releases): the legal record and proof of every release.

I/O only: reads and writes rows of hub.releases as :class:`ReleaseRecord`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from analytics.privacy.errors import UnknownRelease

Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class ReleaseRecord:
    dataset: str
    version: int
    created_at: datetime
    created_by: str
    input_start: datetime
    input_end: datetime
    method: str
    params: Mapping[str, Any]
    measures: Mapping[str, Any]
    linkage_success: float
    epsilon: float
    quasi_identifiers: tuple[str, ...]
    sensitive: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (name, catalogue type) of the published table
    row_count: int
    purpose: str
    items: tuple[str, ...]
    recipients: tuple[str, ...]
    period_end: datetime
    deleted_at: datetime | None = None
    deletion_reason: str | None = None

    @property
    def table(self) -> str:
        """The published table's name in the anon schema."""
        return table_name(self.dataset, self.version)

    @property
    def name(self) -> str:
        return f"{self.dataset}_v{self.version}"


def table_name(dataset: str, version: int) -> str:
    return f"{dataset}_v{version}"


_FIELDS = ("dataset", "version", "created_at", "created_by", "input_start", "input_end", "method",
           "params", "measures", "linkage_success", "epsilon", "quasi_identifiers", "sensitive",
           "columns", "row_count", "purpose", "items", "recipients", "period_end", "deleted_at",
           "deletion_reason")
_SELECT = sql.SQL("SELECT {} FROM hub.releases").format(sql.SQL(", ").join(map(sql.Identifier, _FIELDS)))


# Live releases, in the order of _FIELDS (for plans that get plain tuples back).
LIVE = sql.SQL("{} WHERE deleted_at IS NULL ORDER BY dataset, version").format(_SELECT)


def record_from_row(row: Sequence[Any]) -> ReleaseRecord:
    return _record(dict(zip(_FIELDS, row, strict=True)))


def _record(row: Mapping[str, Any]) -> ReleaseRecord:
    return ReleaseRecord(
        **{**row, "quasi_identifiers": tuple(row["quasi_identifiers"]), "sensitive": tuple(row["sensitive"]),
           "items": tuple(row["items"]), "recipients": tuple(row["recipients"]),
           "columns": tuple((c["name"], c["type"]) for c in row["columns"])})


def insert(conn: Conn, record: ReleaseRecord) -> None:
    values = {f: getattr(record, f) for f in _FIELDS if f not in ("created_at", "deleted_at",
                                                                   "deletion_reason")}
    values |= {"params": Jsonb(dict(record.params)), "measures": Jsonb(dict(record.measures)),
               "columns": Jsonb([{"name": n, "type": t} for n, t in record.columns]),
               "quasi_identifiers": list(record.quasi_identifiers), "sensitive": list(record.sensitive),
               "items": list(record.items), "recipients": list(record.recipients)}
    names = list(values)
    conn.execute(sql.SQL("INSERT INTO hub.releases ({}, created_at) VALUES ({}, %(created_at)s)").format(
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder(n) for n in names)), {**values, "created_at": record.created_at})


def next_version(conn: Conn, dataset: str) -> int:
    """The next version number; deleted releases keep theirs, so numbers are never reused."""
    row = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM hub.releases WHERE dataset = %s",
                       (dataset,)).fetchone()
    return int(row[0]) if row else 1


def list_releases(conn: Conn, *, include_deleted: bool = False,
                  dataset: str | None = None) -> list[ReleaseRecord]:
    where = [sql.SQL("true")]
    if not include_deleted:
        where.append(sql.SQL("deleted_at IS NULL"))
    if dataset is not None:
        where.append(sql.SQL("dataset = %(dataset)s"))
    query = sql.SQL("{} WHERE {} ORDER BY dataset, version").format(_SELECT, sql.SQL(" AND ").join(where))
    with conn.cursor(row_factory=dict_row) as cur:
        return [_record(r) for r in cur.execute(query, {"dataset": dataset}).fetchall()]


def get_release(conn: Conn, name: str) -> ReleaseRecord:
    """A live release by ``dataset_vN``, or the latest live one of ``dataset``."""
    dataset, _, version = name.rpartition("_v")
    found: Sequence[ReleaseRecord] = []
    if dataset and version.isdigit():
        found = [r for r in list_releases(conn, dataset=dataset) if r.version == int(version)]
    if not found:
        found = list_releases(conn, dataset=name)[-1:]
    if not found:
        raise UnknownRelease(f"No live release named {name!r}; `cityhub privacy releases` lists them.")
    return found[0]


def due_for_deletion(conn: Conn, now: datetime) -> list[ReleaseRecord]:
    """Live releases whose processing period has ended, locked until the transaction ends."""
    query = sql.SQL("{} WHERE deleted_at IS NULL AND period_end <= %s ORDER BY dataset, version "
                    "FOR UPDATE").format(_SELECT)
    with conn.cursor(row_factory=dict_row) as cur:
        return [_record(r) for r in cur.execute(query, (now,)).fetchall()]


def mark_deleted(conn: Conn, record: ReleaseRecord, now: datetime, reason: str) -> None:
    conn.execute("UPDATE hub.releases SET deleted_at = %s, deletion_reason = %s "
                 "WHERE dataset = %s AND version = %s", (now, reason, record.dataset, record.version))
