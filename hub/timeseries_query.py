"""One query layer for time series: raw rows, or buckets from the raw rows or a rollup.

Pure functions: a frozen :class:`SeriesQuery` and a :class:`Source` in, a
:class:`BuiltQuery` (a psycopg ``sql.Composed`` and its bound parameters) out. The
console's telemetry route, the datasets rows route and ``cityhub export`` all build
their SQL here, so a bucket means the same everywhere.

Buckets are ``date_bin`` widths aligned to 2000-01-01T00:00Z, the origin of the
rollups. A bucketed query uses the coarsest rollup (1 hour before 1 minute) whose
width divides the bucket width and to whose buckets both ends of the range are
aligned; otherwise it aggregates the raw rows. When the bucket is the rollup's own
width and the groups include the rollup's key, its rows are the buckets: nothing is
aggregated again. The rollups have no "last": that aggregate is one index probe into
the raw rows per bucket.

Identifiers come from the caller's whitelist (the dataset catalogue, or constants);
every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg import sql

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
AGGREGATES = ("avg", "min", "max", "sum", "count", "last")
Relation = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RollupSource:
    """A relation with one row per (group, rollup bucket): count, sum, min and max.

    *key*: columns that, with the time, identify a row (the others depend on them)."""

    relation: Relation
    time: str
    count: str
    sum: str
    min: str
    max: str
    width: timedelta = timedelta(minutes=1)
    key: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        minutes = int(self.width / timedelta(minutes=1))
        return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a series lives: raw rows (time and value columns) and its rollups."""

    raw: Relation
    time: str
    value: str
    rollups: tuple[RollupSource, ...] = ()


@dataclass(frozen=True, slots=True)
class Filter:
    """``column`` equals any of ``values``."""

    column: str
    values: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """What to read from a :class:`Source` in ``[start, end)``.

    Raw (``width`` None): ``columns`` are selected in that order; with ``order`` the
    rows are sorted by it and ``after`` (values of ``order``) resumes strictly after a
    row. Bucketed: ``columns`` are the group columns; rows come sorted by group then
    bucket, and ``after`` (group values, then a bucket start) resumes at that bucket.
    ``time_name`` names the bucket column of the output.
    """

    start: datetime
    end: datetime
    columns: tuple[str, ...]
    width: timedelta | None = None
    aggregates: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    order: tuple[str, ...] = ()
    after: tuple[object, ...] | None = None
    limit: int | None = None
    time_name: str = "ts"


@dataclass(frozen=True, slots=True)
class BuiltQuery:
    query: sql.Composed
    params: dict[str, object]
    columns: tuple[str, ...]  # names of the output columns, in order
    source: str  # "raw", or the rollup read: "rollup_1m", "rollup_1h"


def _aligned(moment: datetime, width: timedelta) -> bool:
    return (moment - ORIGIN) % width == timedelta(0)


def pick_rollup(source: Source, query: SeriesQuery) -> RollupSource | None:
    """The coarsest rollup that can answer a bucketed *query*, if any."""
    width = query.width
    if width is None:
        return None
    fits = [r for r in source.rollups if width % r.width == timedelta(0)
            and _aligned(query.start, r.width) and _aligned(query.end, r.width)]
    return max(fits, key=lambda r: r.width, default=None)


def uses_rollup(source: Source, query: SeriesQuery) -> bool:
    return pick_rollup(source, query) is not None


def _where(query: SeriesQuery, time: sql.Composable, params: dict[str, object],
           alias: str | None = None) -> list[sql.Composable]:
    def col(name: str) -> sql.Composable:
        return sql.Identifier(alias, name) if alias else sql.Identifier(name)

    parts: list[sql.Composable] = [
        sql.SQL("{} >= %(start)s AND {} < %(end)s").format(time, time)
    ]
    params["start"], params["end"] = query.start, query.end
    for i, f in enumerate(query.filters):
        params[f"f{i}"] = list(f.values)
        parts.append(sql.SQL("{} = ANY(%({})s)").format(col(f.column), sql.SQL(f"f{i}")))
    return parts


def _resume(names: Sequence[sql.Composable], values: tuple[object, ...], op: str,
            params: dict[str, object]) -> sql.Composable:
    if len(values) != len(names):
        raise ValueError("a resume position needs one value per ordering column")
    slots = []
    for i, value in enumerate(values):
        params[f"k{i}"] = value
        slots.append(sql.SQL(f"%(k{i})s"))
    return sql.SQL("({}) {} ({})").format(sql.SQL(", ").join(names), sql.SQL(op), sql.SQL(", ").join(slots))


def _limit(query: SeriesQuery, params: dict[str, object]) -> sql.Composable:
    if query.limit is None:
        return sql.SQL("")
    params["n"] = query.limit
    return sql.SQL(" LIMIT %(n)s")


def _raw(source: Source, query: SeriesQuery) -> BuiltQuery:
    params: dict[str, object] = {}
    where = _where(query, sql.Identifier(source.time), params)
    if query.after is not None:
        where.append(_resume([sql.Identifier(c) for c in query.order], query.after, ">", params))
    order: sql.Composable = sql.SQL("")
    if query.order:
        order = sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(map(sql.Identifier, query.order)))
    text = sql.SQL("SELECT {} FROM {} WHERE {}{}{}").format(
        sql.SQL(", ").join(map(sql.Identifier, query.columns)), sql.Identifier(*source.raw),
        sql.SQL(" AND ").join(where), order, _limit(query, params))
    return BuiltQuery(text, params, query.columns, "raw")


def _bucket_where(query: SeriesQuery, time: str, params: dict[str, object]) -> sql.Composable:
    where = _where(query, sql.Identifier(time), params)
    if query.after is not None:
        # Buckets are aligned, so "time >= next bucket start" keeps whole buckets.
        names = [*map(sql.Identifier, query.columns), sql.Identifier(time)]
        where.append(_resume(names, query.after, ">=", params))
    return sql.SQL(" AND ").join(where)


def _last_probe(source: Source, query: SeriesQuery) -> sql.Composable:
    """The raw value at the latest time inside a rollup bucket ``r.b`` of group ``r``."""
    inner: dict[str, object] = {}
    where = _where(query, sql.Identifier("t", source.time), inner, alias="t")
    where += [sql.SQL("{} = {}").format(sql.Identifier("t", g), sql.Identifier("r", g))
              for g in query.columns]
    where.append(sql.SQL("{t} >= r.b AND {t} < r.b + %(width)s").format(t=sql.Identifier("t", source.time)))
    return sql.SQL("(SELECT {v} FROM {raw} t WHERE {w} ORDER BY {t} DESC LIMIT 1)").format(
        v=sql.Identifier("t", source.value), raw=sql.Identifier(*source.raw),
        w=sql.SQL(" AND ").join(where), t=sql.Identifier("t", source.time))


def _rollup(source: Source, query: SeriesQuery, rollup: RollupSource) -> BuiltQuery:
    params: dict[str, object] = {"width": query.width, "origin": ORIGIN}
    groups = [sql.Identifier(g) for g in query.columns]
    # The rollup's columns, its relation, the range and the page: the same in both queries.
    parts: dict[str, sql.Composable] = {
        "t": sql.Identifier(rollup.time), "g": sql.SQL("").join(sql.SQL("{}, ").format(g) for g in groups),
        "s": sql.Identifier(rollup.sum), "n": sql.Identifier(rollup.count),
        "lo": sql.Identifier(rollup.min), "hi": sql.Identifier(rollup.max),
        "rel": sql.Identifier(*rollup.relation), "w": _bucket_where(query, rollup.time, params),
        "limit": _limit(query, params)}
    if query.width == rollup.width and rollup.key and set(rollup.key) <= set(query.columns):
        # Its rows are the buckets already: read them, sorted by the key alone (the other
        # groups depend on it, so the order is the same), as the rollup's index has them.
        keyed = [sql.Identifier(g) for g in query.columns if g in rollup.key]
        inner = sql.SQL(
            "SELECT {t} AS b, {g}{s} AS s, {n}::bigint AS n, {lo} AS lo, {hi} AS hi FROM {rel} "
            "WHERE {w} ORDER BY {order}{limit}"
        ).format(**parts, order=sql.SQL(", ").join([*keyed, sql.Identifier(rollup.time)]))
        return _outer(source, query, inner, params, rollup,
                      [g for g in query.columns if g in rollup.key])
    inner = sql.SQL(
        "SELECT date_bin(%(width)s, {t}, %(origin)s) AS b, {g}sum({s}) AS s, sum({n})::bigint AS n, "
        "min({lo}) AS lo, max({hi}) AS hi FROM {rel} WHERE {w} GROUP BY {by} ORDER BY {order}{limit}"
    ).format(**parts, by=sql.SQL(", ").join([sql.SQL("b"), *groups]),
             order=sql.SQL(", ").join([*groups, sql.SQL("b")]))
    return _outer(source, query, inner, params, rollup, list(query.columns))


def _outer(source: Source, query: SeriesQuery, inner: sql.Composable, params: dict[str, object],
           rollup: RollupSource, order: list[str]) -> BuiltQuery:
    exprs = {"avg": sql.SQL("r.s / r.n"), "min": sql.SQL("r.lo"), "max": sql.SQL("r.hi"),
             "sum": sql.SQL("r.s"), "count": sql.SQL("r.n"), "last": _last_probe(source, query)}
    text = sql.SQL("SELECT r.b, {g}{aggs} FROM ({inner}) r ORDER BY {order}").format(
        g=sql.SQL("").join(sql.SQL("{}, ").format(sql.Identifier("r", c)) for c in query.columns),
        aggs=sql.SQL(", ").join(exprs[a] for a in query.aggregates), inner=inner,
        order=sql.SQL(", ").join([*(sql.Identifier("r", c) for c in order), sql.SQL("r.b")]))
    return BuiltQuery(text, params, (query.time_name, *query.columns, *query.aggregates),
                      f"rollup_{rollup.name}")


def _raw_buckets(source: Source, query: SeriesQuery) -> BuiltQuery:
    params: dict[str, object] = {"width": query.width, "origin": ORIGIN}
    v, t = sql.Identifier(source.value), sql.Identifier(source.time)
    exprs = {"avg": sql.SQL("avg({})").format(v), "min": sql.SQL("min({})").format(v),
             "max": sql.SQL("max({})").format(v), "sum": sql.SQL("sum({})").format(v),
             "count": sql.SQL("count(*)"),
             "last": sql.SQL("(array_agg({} ORDER BY {} DESC))[1]").format(v, t)}
    groups = [sql.Identifier(g) for g in query.columns]
    text = sql.SQL(
        "SELECT date_bin(%(width)s, {t}, %(origin)s) AS b, {g}{aggs} FROM {rel} WHERE {w} "
        "GROUP BY {by} ORDER BY {order}{limit}"
    ).format(t=t, g=sql.SQL("").join(sql.SQL("{}, ").format(g) for g in groups),
             aggs=sql.SQL(", ").join(exprs[a] for a in query.aggregates),
             rel=sql.Identifier(*source.raw), w=_bucket_where(query, source.time, params),
             by=sql.SQL(", ").join([sql.SQL("b"), *groups]),
             order=sql.SQL(", ").join([*groups, sql.SQL("b")]), limit=_limit(query, params))
    return BuiltQuery(text, params, (query.time_name, *query.columns, *query.aggregates), "raw")


def build(source: Source, query: SeriesQuery) -> BuiltQuery:
    """The SQL for *query* against *source*; see the module docstring for the rules."""
    if query.width is None:
        return _raw(source, query)
    unknown = [a for a in query.aggregates if a not in AGGREGATES]
    if unknown or not query.aggregates:
        raise ValueError(f"aggregates must be some of {AGGREGATES}, not {query.aggregates}")
    rollup = pick_rollup(source, query)
    if rollup is not None:
        return _rollup(source, query, rollup)
    return _raw_buckets(source, query)
