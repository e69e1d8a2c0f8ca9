"""`cityhub privacy audit`: which role can read which schema and table; fails on a breach."""

from __future__ import annotations

from typing import Annotated

import psycopg
import typer
from rich.table import Table

from analytics.privacy.audit import OTHER, Audit, Read, run_audit, zone
from analytics.privacy.cli import app
from hub.cli.common import console, database_url, errors, print_json, settings
from hub.errors import DatabaseUnavailable


def _audit(url: str) -> Audit:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            return run_audit(conn)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"Cannot audit the database: {str(exc).strip().splitlines()[0]}") from exc


def _readable(audit: Audit, role: str) -> dict[str, list[Read]]:
    """The relations *role* reads, by schema; partitions are counted under their parent."""
    by_schema: dict[str, list[Read]] = {}
    for read in audit.reads:
        if read.role == role and not read.partition:
            by_schema.setdefault(read.schema, []).append(read)
    return by_schema


def as_document(audit: Audit) -> dict[str, object]:
    roles = [{"role": role, "administrator": role in audit.administrators,
              "analyst": role in audit.analysts,
              "schemas": sorted(s for r, s in audit.schemas if r == role),
              "reads": [read.name for reads in _readable(audit, role).values() for read in reads],
              "partitions_read": sum(1 for r in audit.reads if r.role == role and r.partition)}
             for role in audit.roles]
    return {"ok": audit.ok, "administrators": sorted(audit.administrators), "roles": roles,
            "violations": [{"role": v.role, "rule": v.rule, "relations": list(v.relations),
                            "message": v.message} for v in audit.violations]}


def _table(audit: Audit) -> Table:
    table = Table("role", "schema", "zone", "can read", title="Who can read what")
    for role in audit.roles:
        if role in audit.administrators:
            table.add_row(role, "*", "all", "everything (administrator)")
            continue
        readable = _readable(audit, role)
        # PostgreSQL lets everyone use `public`; it is listed only where it holds something.
        used = sorted({s for r, s in audit.schemas if r == role and zone(s) != OTHER} | set(readable))
        for schema in used:
            names = sorted(read.relation for read in readable.get(schema, []))
            table.add_row(role, schema, zone(schema), ", ".join(names) or "(USAGE only: nothing)")
        if not used:
            table.add_row(role, "", "", "nothing")
    return table


@app.command("audit")
def audit_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Which role can read which schema and table of the live database; exits 1 if a
    role other than the administrator reads both pseudonymised data and key material,
    or if the analyst reads anything outside the open schema anon."""
    audit = _audit(database_url(settings()))
    if as_json:
        print_json(as_document(audit))
    else:
        console.print(_table(audit))
        if audit.ok:
            console.print("[green]ok[/green]: no role but the administrator reaches both "
                          "pseudonymised data and key material; the analyst reads only anon")
    for violation in audit.violations:
        errors.print(f"[red]violation:[/red] {violation.message}")
    if not audit.ok:
        raise typer.Exit(1)
