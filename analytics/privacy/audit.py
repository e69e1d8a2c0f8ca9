"""Who can read what: the privacy audit of the database's roles (`cityhub privacy audit`).

Read from the live catalogue (pg_roles, pg_class, has_schema_privilege,
has_any_column_privilege), never from the migrations, so a GRANT made by hand shows.
A role *reads* a table or view when it has USAGE on its schema and SELECT on it (or on
one of its columns). Schemas are zones: ``anon`` is open, ``restricted`` holds key
material and raw identifiers, ``hub`` is pseudonymised, and any *other* schema
(TimescaleDB's chunk schemas hold hub's rows) counts as pseudonymised for the rules.

The rules (DESIGN.md, "Database roles"):

- no role but the administrator reads both pseudonymised data and key material;
- ``cityhub_analyst`` (and every role that is a member of it) reads nothing outside
  ``anon``, and has USAGE on neither ``hub`` nor ``restricted``.

The administrator is a superuser, the database's owner, the owner of the ``hub``,
``anon`` or ``restricted`` schema (the role that migrates), or any role that has their
rights. Predefined ``pg_*`` roles are not listed; a role granted one of them is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

ANALYST = "cityhub_analyst"
OPEN, RESTRICTED, PSEUDONYMISED, OTHER = "open", "restricted", "pseudonymised", "other"

_ROLES = """
SELECT r.rolname,
       r.rolsuper
       OR pg_has_role(r.oid, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
       OR EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname IN ('hub', 'anon', 'restricted')
                  AND pg_has_role(r.oid, n.nspowner, 'USAGE')),
       coalesce((SELECT pg_has_role(r.oid, a.oid, 'MEMBER') FROM pg_roles a
                 WHERE a.rolname = %(analyst)s), false)
FROM pg_roles r
WHERE r.rolname !~ '^pg_'
ORDER BY r.rolname
"""
_SCHEMAS = """
SELECT r.rolname, n.nspname
FROM pg_roles r CROSS JOIN pg_namespace n
WHERE r.rolname !~ '^pg_' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  AND has_schema_privilege(r.oid, n.oid, 'USAGE')
"""
_READS = """
SELECT r.rolname, n.nspname, c.relname, c.relkind::text, c.relispartition
FROM pg_roles r CROSS JOIN pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rolname !~ '^pg_' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND has_schema_privilege(r.oid, n.oid, 'USAGE')
  AND has_any_column_privilege(r.oid, c.oid, 'SELECT')
ORDER BY 1, 2, 3
"""
_DATA_SCHEMAS = frozenset({"hub", "restricted"})
_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}


def zone(schema: str) -> str:
    """The zone of a schema; an *other* schema counts as pseudonymised for the rules."""
    return {"anon": OPEN, "restricted": RESTRICTED, "hub": PSEUDONYMISED}.get(schema, OTHER)


@dataclass(frozen=True, slots=True)
class Read:
    """*role* can read *schema*.*relation*."""

    role: str
    schema: str
    relation: str
    kind: str  # table, view, materialized view, foreign table
    partition: bool  # a partition of a table (listed under its parent in the table view)

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.relation}"


@dataclass(frozen=True, slots=True)
class Violation:
    role: str
    rule: str  # "pseudonymised+keys" or "analyst-outside-anon"
    relations: tuple[str, ...]
    message: str


@dataclass(frozen=True, slots=True)
class Audit:
    roles: tuple[str, ...]
    administrators: frozenset[str]
    analysts: frozenset[str]
    schemas: tuple[tuple[str, str], ...]  # (role, schema) with USAGE
    reads: tuple[Read, ...]
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


def run_audit(conn: psycopg.Connection[tuple[object, ...]], analyst: str = ANALYST) -> Audit:
    """The audit of every role over every table and view of the connected database."""
    roles: list[str] = []
    admins: set[str] = set()
    analysts: set[str] = set()
    for name, is_admin, is_analyst in conn.execute(_ROLES, {"analyst": analyst}).fetchall():
        roles.append(str(name))
        if is_admin:
            admins.add(str(name))
        if is_analyst:
            analysts.add(str(name))
    schemas = tuple((str(r), str(s)) for r, s in conn.execute(_SCHEMAS).fetchall())
    reads = tuple(Read(str(r), str(s), str(c), _KINDS.get(str(k), str(k)), bool(p))
                  for r, s, c, k, p in conn.execute(_READS).fetchall())
    analysts -= admins  # a superuser is a member of every role
    violations = tuple(judge(roles, frozenset(admins), frozenset(analysts), schemas, reads))
    return Audit(tuple(roles), frozenset(admins), frozenset(analysts), schemas, reads, violations)


def _names(reads: Iterable[Read]) -> tuple[str, ...]:
    return tuple(sorted({r.name for r in reads}))


def _listed(names: tuple[str, ...], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def judge(roles: Iterable[str], admins: frozenset[str], analysts: frozenset[str],
          schemas: Iterable[tuple[str, str]], reads: Iterable[Read]) -> list[Violation]:
    """The rules, over what the catalogue said. Pure."""
    reads, schemas = tuple(reads), tuple(schemas)
    found: list[Violation] = []
    for role in roles:
        if role in admins:
            continue
        mine = [r for r in reads if r.role == role]
        pseudo = _names(r for r in mine if zone(r.schema) in (PSEUDONYMISED, OTHER))
        keys = _names(r for r in mine if zone(r.schema) == RESTRICTED)
        if pseudo and keys:
            found.append(Violation(role, "pseudonymised+keys", keys + pseudo, (
                f"role {role} reads key material ({_listed(keys)}) and pseudonymised data "
                f"({_listed(pseudo)}); only the administrator may reach both")))
        if role in analysts:
            outside = _names(r for r in mine if zone(r.schema) != OPEN)
            # USAGE on a data schema lets an analyst see its objects and call its
            # functions; PostgreSQL's own grant on `public` to everyone is no such door.
            used = tuple(sorted(s for r, s in schemas if r == role and s in _DATA_SCHEMAS))
            if outside or used:
                what = (f"reads {_listed(outside)}" if outside
                        else f"has USAGE on schema {', '.join(used)}")
                found.append(Violation(role, "analyst-outside-anon", outside or used, (
                    f"role {role} is an analyst and {what}, outside the open schema anon")))
    return found
