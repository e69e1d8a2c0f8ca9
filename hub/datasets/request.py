"""A rows request checked against the catalogue: the query parameters become a frozen
:class:`RowsRequest`, or a :class:`DatasetQueryError` saying what is wrong.

Parameters (HTTP query string, and ``cityhub export`` options):

- ``from`` / ``to``: ISO-8601, ``[from, to)`` on the dataset's time column; default
  2000-01-01T00:00Z and now;
- ``bucket``: ``1m``, ``15m``, ``1h`` or ``1d`` (datasets with a value column only);
- ``agg``: comma-separated ``avg,min,max,sum,count,last``; default ``avg,min,max,count``;
- ``columns``: comma-separated; raw rows: columns to return (the time column is
  always first); buckets: the group columns (default every group column);
- ``format``: ``jsonl``, ``csv``, ``parquet`` or ``arrow``;
- ``limit`` (1 … 100000) and ``after`` (the ``X-Next-Cursor`` of the previous page);
- any filter column of the dataset, repeatable: rows whose column equals any value.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hub.datasets import DatasetQueryError
from hub.datasets.catalogue import Dataset
from hub.timeparse import BadTimestamp, parse_user_time
from hub.timeseries_query import AGGREGATES, ORIGIN, Filter, RollupSource, SeriesQuery, Source

FORMATS = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "arrow": "application/vnd.apache.arrow.stream",
}
TEXT_FORMATS = ("jsonl", "csv")
BUCKETS = {"1m": timedelta(minutes=1), "15m": timedelta(minutes=15), "1h": timedelta(hours=1),
           "1d": timedelta(days=1)}
DEFAULT_AGGREGATES = ("avg", "min", "max", "count")
MAX_LIMIT = 100_000
RESERVED = ("from", "to", "bucket", "agg", "columns", "format", "limit", "after")
DEFAULT_START = ORIGIN


@dataclass(frozen=True, slots=True)
class RowsRequest:
    dataset: Dataset
    start: datetime
    end: datetime
    bucket: timedelta | None
    aggregates: tuple[str, ...]
    columns: tuple[str, ...]  # raw: the columns returned; bucketed: the group columns
    filters: tuple[Filter, ...]
    format: str
    limit: int | None
    after: tuple[object, ...] | None

    @property
    def paged(self) -> bool:
        return self.limit is not None or self.after is not None

    @property
    def output_columns(self) -> tuple[str, ...]:
        if self.bucket is None:
            return self.columns
        return (self.dataset.time_column, *self.columns, *self.aggregates)

    @property
    def output_types(self) -> tuple[str, ...]:
        """Catalogue column types of :attr:`output_columns`."""
        if self.bucket is None:
            return tuple(_type(self.dataset, c) for c in self.columns)
        aggs = tuple("bigint" if a == "count" else "double" for a in self.aggregates)
        return ("timestamp", *(_type(self.dataset, c) for c in self.columns), *aggs)

    def source(self) -> Source:
        d = self.dataset
        if d.series is None:
            return Source(raw=d.relation, time=d.time_column, value="")
        # A rollup row is one bucket of a key of the raw rows.
        key = tuple(k for k in d.key if k != d.time_column)
        rollups = tuple(RollupSource(r.relation, r.time, r.count, r.sum, r.min, r.max,
                                     timedelta(minutes=r.width_minutes), key)
                        for r in d.series.rollups)
        return Source(raw=d.relation, time=d.time_column, value=d.series.value, rollups=rollups)

    def series_query(self) -> SeriesQuery:
        """The shared query layer's request. Paged raw rows also select the key columns
        not asked for (after the others), so the last row can make the cursor."""
        columns = self.columns
        if self.bucket is None and self.paged:
            columns += tuple(k for k in self.dataset.key if k not in columns)
        return SeriesQuery(
            start=self.start, end=self.end, columns=columns, width=self.bucket,
            aggregates=self.aggregates, filters=self.filters,
            order=self.dataset.key if self.bucket is None and self.paged else (),
            after=self.after, limit=None if self.limit is None else self.limit + 1,
            time_name=self.dataset.time_column)

    def cursor_after(self, row: Sequence[object]) -> str:
        """The cursor resuming after *row* (a row of the query, extra key columns included)."""
        if self.bucket is None:
            names = self.series_query().columns
            values = [_moment(row[names.index(k)]) if _type(self.dataset, k) == "timestamp"
                      else row[names.index(k)] for k in self.dataset.key]
        else:
            values = [*row[1:1 + len(self.columns)], _moment(row[0]) + self.bucket]
        return _encode([v.isoformat() if isinstance(v, datetime) else v for v in values])


def _moment(value: object) -> datetime:
    """A timestamp of a row: a datetime, or epoch microseconds (Arrow and Parquet cursors)."""
    if isinstance(value, int):
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)
    assert isinstance(value, datetime)
    return value


def _type(dataset: Dataset, name: str) -> str:
    column = dataset.column(name)
    assert column is not None
    return column.type


def _encode(values: list[object]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(text: str, types: Sequence[str]) -> tuple[object, ...]:
    bad = DatasetQueryError("after is not a cursor of this query; pass X-Next-Cursor from the previous page.")
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(values, list) or len(values) != len(types):
        raise bad
    out: list[object] = []
    for value, kind in zip(values, types, strict=True):
        if kind == "timestamp":
            try:
                moment = datetime.fromisoformat(str(value))
            except ValueError:
                raise bad from None
            if moment.tzinfo is None:
                raise bad
            out.append(moment)
        elif (kind == "text") == isinstance(value, str):
            out.append(value)
        else:
            raise bad
    return tuple(out)


def _time(name: str, value: str | None, default: datetime) -> datetime:
    if value is None or value == "":
        return default
    try:
        return parse_user_time(value)
    except BadTimestamp as exc:
        raise DatasetQueryError(f"{name}: {exc}.") from None


def _csv(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _filter_value(dataset: Dataset, column: str, value: str) -> object:
    kind = _type(dataset, column)
    if kind == "boolean":
        lowered = value.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise DatasetQueryError(f"Filter {column} takes true or false, not {value!r}.")
        return lowered in ("true", "1")
    if kind in ("double", "bigint"):
        try:
            return float(value) if kind == "double" else int(value)
        except ValueError:
            raise DatasetQueryError(f"Filter {column} takes a number, not {value!r}.") from None
    return value


def _columns(dataset: Dataset, asked: tuple[str, ...], bucket: timedelta | None) -> tuple[str, ...]:
    unknown = [c for c in asked if dataset.column(c) is None]
    if unknown:
        raise DatasetQueryError(f"Unknown column {unknown[0]!r} in columns; {dataset.name} has: "
                                f"{', '.join(dataset.column_names)}.")
    if bucket is not None:
        assert dataset.series is not None
        groups = dataset.series.groups
        wrong = [c for c in asked if c not in groups and c != dataset.time_column]
        if wrong:
            raise DatasetQueryError(f"Column {wrong[0]!r} cannot be a group of buckets; with bucket, "
                                    f"columns picks from {', '.join(groups)} (values come as agg=).")
        picked = tuple(c for c in groups if c in asked)
        return picked if asked else groups
    if not asked:
        return dataset.column_names
    rest = tuple(dict.fromkeys(c for c in asked if c != dataset.time_column))
    return (dataset.time_column, *rest)


def parse_rows_request(dataset: Dataset, params: Mapping[str, Sequence[str]], *,
                       now: datetime | None = None, bound_text: bool = True) -> RowsRequest:
    """Check every parameter against *dataset*; ``params`` maps a name to its values.

    *bound_text* False lifts the bound on raw JSON lines and CSV (files written by
    ``cityhub export``, not held by an HTTP client)."""
    def one(name: str) -> str | None:
        values = params.get(name) or []
        if len(values) > 1:
            raise DatasetQueryError(f"{name} is given {len(values)} times; give it once.")
        return values[0] if values else None

    end = _time("to", one("to"), now or datetime.now(UTC))
    start = _time("from", one("from"), DEFAULT_START)
    if start >= end:
        raise DatasetQueryError(f"from ({start.isoformat()}) must be earlier than to ({end.isoformat()}).")

    bucket_text, agg_text = one("bucket"), one("agg")
    bucket = None
    if bucket_text:
        if dataset.series is None:
            raise DatasetQueryError(f"{dataset.name} cannot be bucketed; only datasets with a value "
                                    "column can (e.g. air_quality).")
        bucket = BUCKETS.get(bucket_text.strip())
        if bucket is None:
            raise DatasetQueryError(f"bucket {bucket_text!r} is not one of {', '.join(BUCKETS)}.")
    aggregates: tuple[str, ...] = ()
    if agg_text is not None:
        if bucket is None:
            raise DatasetQueryError("agg needs a bucket (1m, 15m, 1h or 1d).")
        aggregates = tuple(dict.fromkeys(_csv(agg_text)))
        bad = [a for a in aggregates if a not in AGGREGATES]
        if bad or not aggregates:
            raise DatasetQueryError(f"agg {agg_text!r} is not a list of {', '.join(AGGREGATES)}.")
    elif bucket is not None:
        aggregates = DEFAULT_AGGREGATES

    fmt = (one("format") or "jsonl").strip().lower()
    if fmt not in FORMATS:
        raise DatasetQueryError(f"format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if (bound_text and bucket is None and fmt in TEXT_FORMATS and dataset.max_text_range is not None
            and end - start > dataset.max_text_range):
        raise DatasetQueryError(
            f"The range is too large for {fmt} without a bucket: at most {dataset.max_text_range.days} "
            "days of raw rows as JSON lines or CSV. Narrow from/to, add a bucket, or use format=parquet "
            "or arrow (no bound).")

    columns = _columns(dataset, _csv(one("columns")), bucket)
    filters = []
    for name, values in params.items():
        if name in RESERVED:
            continue
        if name not in dataset.filters:
            raise DatasetQueryError(f"Unknown filter {name!r}; {dataset.name} filters on: "
                                    f"{', '.join(dataset.filters)}.")
        filters.append(Filter(name, tuple(_filter_value(dataset, name, v) for v in values)))

    limit_text, after_text = one("limit"), one("after")
    limit = None
    if limit_text is not None:
        if not limit_text.strip().isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise DatasetQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}.")
        limit = int(limit_text)
    after = None
    if after_text:
        if bucket is None:
            types = [_type(dataset, k) for k in dataset.key]
        else:
            types = [*(_type(dataset, c) for c in columns), "timestamp"]
        after = _decode_cursor(after_text, types)
    return RowsRequest(dataset, start, end, bucket, aggregates, columns, tuple(filters), fmt, limit, after)
