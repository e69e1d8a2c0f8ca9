"""`cityhub privacy verify RELEASE`: the checks that do not trust the code that made a release.

- Household-level tables (a release with quasi-identifiers): k and l recomputed on the
  published table by pycanon, an independent library, against the k and l of the
  release's parameters.
- Meter aggregates: the households of every published cell and the largest share of
  one household recomputed in SQL from the pseudonymised readings (hub.telemetry),
  against min_households and max_share.
- Every release: the published table's row count, and the open-schema scan for plates,
  household ids, pseudonyms, names, phone and resident registration numbers
  (analytics.privacy.scan).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from analytics.privacy import records
from analytics.privacy.errors import PrivacyError
from analytics.privacy.records import ReleaseRecord
from analytics.privacy.scan import scan_open_schema

Conn = psycopg.Connection[tuple[Any, ...]]
SHARE_TOLERANCE = 0.005  # the readings' sum stands in for hourly means: a rounding margin
_METER_CELLS = sql.SQL("""
WITH groups AS (SELECT DISTINCT zones, household_type FROM {table}),
zone_group AS (SELECT zones, household_type, unnest(string_to_array(zones, ',')) AS zone FROM groups),
member AS MATERIALIZED (
    SELECT d.id, zg.zones, zg.household_type
    FROM hub.devices d LEFT JOIN hub.households h ON h.device_id = d.id
    JOIN zone_group zg ON zg.zone = coalesce(d.zone, '')
                      AND zg.household_type = coalesce(h.household_type, 'unknown')
    WHERE d.kind = 'smart_meter'),
hourly AS MATERIALIZED (
    SELECT device_id, date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00+00') AS hour, avg(value) AS kwh
    FROM hub.telemetry WHERE metric = 'power_kw' AND ts >= %(start)s AND ts < %(end)s GROUP BY 1, 2),
cell_hours AS MATERIALIZED (
    SELECT c.bucket_start, c.zones, c.household_type, h.hour
    FROM {table} c, generate_series(c.bucket_start, c.bucket_start + (c.bucket_hours - 1) * interval '1 hour',
                                    interval '1 hour') AS h(hour)),
contrib AS (
    SELECT ch.bucket_start, ch.zones, ch.household_type, m.id, sum(hr.kwh) AS kwh
    FROM cell_hours ch JOIN member m USING (zones, household_type)
    JOIN hourly hr ON hr.device_id = m.id AND hr.hour = ch.hour
    GROUP BY 1, 2, 3, 4)
SELECT count(*), min(n), max(top / nullif(total, 0))
FROM (SELECT count(*) AS n, max(kwh) AS top, sum(kwh) AS total
      FROM contrib GROUP BY bucket_start, zones, household_type) cells
""")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Verification:
    release: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def published(conn: Conn, record: ReleaseRecord) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier("anon", record.table)))
        names = [d.name for d in cur.description or ()]
        return pd.DataFrame(cur.fetchall(), columns=names)


def pycanon_k_l(table: pd.DataFrame, quasi_identifiers: list[str], sensitive: list[str]) -> tuple[int, int]:
    """k and l of *table* as pycanon computes them."""
    try:
        from pycanon import anonymity  # type: ignore[import-untyped]
    except ImportError as exc:
        raise PrivacyError("pycanon is not installed: `make run` installs it (see docs/privacy.md).") from exc
    frame = table[[*quasi_identifiers, *sensitive]].astype(str)
    k = int(anonymity.k_anonymity(frame, quasi_identifiers))
    l = int(anonymity.l_diversity(frame, quasi_identifiers, sensitive))  # noqa: E741
    return k, l


def _kl_checks(conn: Conn, record: ReleaseRecord) -> list[Check]:
    table = published(conn, record)
    if table.empty:
        return [Check("k-anonymity (pycanon)", True, "the published table is empty")]
    k, l = pycanon_k_l(table, list(record.quasi_identifiers), list(record.sensitive))  # noqa: E741
    want_k, want_l = int(record.params.get("k", 5)), int(record.params.get("l", 2))
    return [Check("k-anonymity (pycanon)", k >= want_k, f"k = {k}, required {want_k}"),
            Check("l-diversity (pycanon)", l >= want_l, f"l = {l}, required {want_l}")]


def _meter_checks(conn: Conn, record: ReleaseRecord) -> list[Check]:
    want_n = int(record.params.get("min_households", 100))
    want_share = float(record.params.get("max_share", 0.15))
    query = _METER_CELLS.format(table=sql.Identifier("anon", record.table))
    row = conn.execute(query, {"start": record.input_start, "end": record.input_end}).fetchone()
    cells, fewest, share = (row or (0, None, None))
    fewest_n = int(fewest) if fewest is not None else 0
    top = float(share) if share is not None else 0.0
    return [
        Check("cells found in the readings", int(cells) == record.row_count,
              f"{cells} of {record.row_count} published cells recomputed from hub.telemetry"),
        Check("households per cell", cells == 0 or fewest_n >= want_n,
              f"fewest {fewest_n}, required {want_n}"),
        Check("largest share of one household", top <= want_share + SHARE_TOLERANCE,
              f"{top:.2%}, allowed {want_share:.0%}")]


def verify(conn: Conn, name: str, *, scan: bool = True) -> Verification:
    record = records.get_release(conn, name)
    checks: list[Check] = []
    counted = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("anon", record.table))
    row = conn.execute(counted).fetchone()
    count = int(row[0]) if row else -1
    checks.append(Check("row count", count == record.row_count, f"{count} rows, recorded {record.row_count}"))
    if record.quasi_identifiers and record.sensitive:
        checks += _kl_checks(conn, record)
    if "households" in {n for n, _ in record.columns} and "min_households" in record.params:
        checks += _meter_checks(conn, record)
    if scan:
        findings = scan_open_schema(conn)
        checks.append(Check("open-schema scan", not findings,
                            "; ".join(map(str, findings)) or "no personal values in anon"))
    return Verification(record.name, tuple(checks))
