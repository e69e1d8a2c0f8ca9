"""The open-schema scan: personal values that must never be published (docs/privacy.md).

Every table and view of ``anon`` (or the schema given), every column whose values are
text (text, varchar, char, json, jsonb, and arrays of them), is matched in the database
against the patterns below; a finding names the relation, the column, the pattern and
how many rows match — never the value itself, which may be the very thing that leaked.
The releases' `cityhub privacy verify` and the tests call ``scan_open_schema``.

The patterns:

- ``licence_plate``: Korean plates, ``12가3456`` / ``123가4567`` (a space allowed).
- ``household_id``: the simulators' household ids, ``HH-`` and 10 hex digits.
- ``track_id``: the simulators' raw CCTV person track ids, ``trk-`` and 8 hex digits.
- ``pseudonym``: the hub's pseudonyms, ``pn<version>_`` and 32 hex digits.
- ``phone``: Korean mobile numbers (``010-1234-5678``, separators optional) and
  landlines with hyphens (``02-123-4567``).
- ``rrn``: resident registration numbers, 6 digits (a valid YYMMDD) ``-`` 7 digits.
- ``name``: a heuristic — a value (or a JSON string) that is exactly one of the common
  Korean family names followed by a two-syllable given name in Hangul (``김민준``). It
  misses rarer family names, one-syllable given names and names inside sentences, and
  would flag a three-syllable word that happens to start with a family-name syllable
  (``이용자``): a finding is a reason to look, not a proof.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql

from analytics.privacy.errors import PrivacyError

# The most common family names (about nine in ten people carry one of them).
_FAMILY_NAMES = (
    "김|이|박|최|정|강|조|윤|장|임|한|오|서|신|권|황|안|송|류|유|전|홍|고|문|양|손|배|"
    "백|허|남|심|노|하|곽|성|차|주|우|구|민|진|나|지|엄|채|원|천|방|공|현|함|변|염|"
    "여|추|도|소|석|선|설|마|길|연|위|표|명|기|반|왕|금|옥|육|인|맹|제|모|탁|국|"
    "남궁|황보|제갈|선우|독고"
)
# PostgreSQL regular expressions (ARE), matched against the column's text.
PATTERNS: Mapping[str, str] = {
    "licence_plate": r"(^|[^0-9])[0-9]{2,3} ?[가-힣] ?[0-9]{4}($|[^0-9])",
    "household_id": r"HH-[0-9A-Fa-f]{10}",
    "track_id": r"trk-[0-9a-f]{8}",
    "pseudonym": r"pn[0-9]+_[0-9a-f]{32}",
    "phone": (r"(^|[^0-9])(01[016789][-. ]?[0-9]{3,4}[-. ]?[0-9]{4}"
              r"|0[2-6][0-9]?-[0-9]{3,4}-[0-9]{4})($|[^0-9])"),
    "rrn": r"(^|[^0-9])[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])-[1-8][0-9]{6}($|[^0-9])",
    "name": rf"(^|\")({_FAMILY_NAMES})[가-힣]{{2}}($|\")",
}

_RELATIONS = """
SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
ORDER BY c.relname
"""
_TEXT_COLUMNS = """
SELECT a.attname FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE a.attrelid = %(relation)s AND a.attnum > 0 AND NOT a.attisdropped
  AND (t.typcategory = 'S' OR t.typname IN ('json', 'jsonb')
       OR e.typcategory = 'S' OR e.typname IN ('json', 'jsonb'))
ORDER BY a.attnum
"""


@dataclass(frozen=True, slots=True)
class Finding:
    relation: str  # schema.name
    column: str
    pattern: str  # a key of PATTERNS
    rows: int  # how many rows of the relation match

    def __str__(self) -> str:
        return f"{self.relation}.{self.column}: {self.rows} rows look like a {self.pattern}"


def scan_open_schema(conn: psycopg.Connection[tuple[object, ...]], schema: str = "anon",
                     patterns: Mapping[str, str] = PATTERNS) -> list[Finding]:
    """Every match of *patterns* in the text columns of *schema*'s tables and views."""
    findings: list[Finding] = []
    relations = conn.execute(_RELATIONS, {"schema": schema}).fetchall()
    for oid, name in relations:
        columns = [str(c) for (c,) in conn.execute(_TEXT_COLUMNS, {"relation": oid}).fetchall()]
        if columns:
            findings.extend(_scan(conn, schema, str(name), columns, patterns))
    return findings


def _scan(conn: psycopg.Connection[tuple[object, ...]], schema: str, name: str,
          columns: list[str], patterns: Mapping[str, str]) -> list[Finding]:
    # One pass over the relation: a view over hub.telemetry is read once, not per column.
    checks = [(column, label) for column in columns for label in patterns]
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE {}::text ~ %s)").format(sql.Identifier(column))
        for column, _ in checks
    )
    query = sql.SQL("SELECT {} FROM {}").format(counts, sql.Identifier(schema, name))
    try:
        row = conn.execute(query, [patterns[label] for _, label in checks]).fetchone()
    except psycopg.Error as exc:
        raise PrivacyError(f"Cannot scan {schema}.{name}: {str(exc).strip().splitlines()[0]}") from exc
    assert row is not None  # an aggregate without GROUP BY returns one row
    return [Finding(f"{schema}.{name}", column, label, n)
            for (column, label), n in zip(checks, row, strict=True) if isinstance(n, int) and n]
