"""Read-only SQL logins for data scientists: PostgreSQL roles IN ROLE cityhub_analyst.

cityhub_analyst (migration 0003) may read only the open schema ``anon``. A login made
here inherits exactly that, searches ``anon`` first, and has its own statement
timeout (role settings are not inherited from a group, so each login gets it).
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql

from hub import audit
from hub.errors import AlreadyExists, InvalidInput

GROUP = "cityhub_analyst"
DEFAULT_TIMEOUT = "30s"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_TIMEOUT = re.compile(r"[1-9][0-9]{0,6}(ms|s|min)")


def validate_login_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name.startswith("pg_") or name.startswith("cityhub_"):
        raise InvalidInput(f"SQL login {name!r} is not allowed: use lower-case letters, digits and '_' "
                           "(up to 63, not starting with a digit, pg_ or cityhub_).")
    return name


def _is_analyst(conn: psycopg.Connection[Any], name: str) -> bool:
    # A direct member, not pg_has_role: a superuser "is a member" of every role.
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
        "JOIN pg_roles r ON r.oid = m.member WHERE g.rolname = %s AND r.rolname = %s "
        "AND NOT (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls))",
        (GROUP, name)).fetchone()
    return bool(row and row[0])


def create_analyst_login(conn: psycopg.Connection[Any], name: str, password: str, *,
                         statement_timeout: str = DEFAULT_TIMEOUT, replace: bool = False,
                         actor: str = "cli") -> None:
    """Create (or, with *replace*, reset the password of) a read-only SQL login."""
    validate_login_name(name)
    if len(password) < 10:
        raise InvalidInput("A password needs at least 10 characters.")
    if not _TIMEOUT.fullmatch(statement_timeout):
        raise InvalidInput(f"statement timeout {statement_timeout!r} is not like 30s, 500ms or 2min.")
    role = sql.Identifier(name)
    with conn.transaction():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        if exists and not replace:
            raise AlreadyExists(f"A database role named {name!r} exists already; pass --replace to "
                                "reset its password.")
        if exists and not _is_analyst(conn, name):
            raise AlreadyExists(f"The database role {name!r} exists and is not an analyst login.")
        # Utility statements take no bound parameters: the password goes in as a quoted literal.
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT "
                             "PASSWORD {}").format(role, sql.Literal(password)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(GROUP), role))
        conn.execute(sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
            role, sql.Literal(statement_timeout)))
        conn.execute(sql.SQL("ALTER ROLE {} SET search_path = anon").format(role))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role))
        audit.append(conn, actor=actor, action="analyst_sql.add" if not exists else "analyst_sql.passwd",
                     target=name, details={"statement_timeout": statement_timeout})
