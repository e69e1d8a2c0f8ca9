"""Versioned SQL migrations, applied in transactions and recorded in a ledger.

Files in ``hub/migrations`` are named ``NNNN_name.sql`` (every profile) or
``NNNN_name.<profile>.sql`` (``plain`` or ``timescale`` only). The profile is
detected on the first run and recorded; later runs follow the recorded one.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import cast

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hub.catalogue import Catalogue
from hub.db import connection
from hub.errors import MigrationError

PROFILES = ("plain", "timescale")
_NAME = re.compile(r"(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<profile>plain|timescale))?\.sql")
# One migrator at a time per database, whoever starts first.
_LOCK_KEY = 0x6369_7479_6875_62  # "cityhub"
_ROLE_RACE_ATTEMPTS = 5

_LEDGER = sql.SQL("""
CREATE SCHEMA IF NOT EXISTS hub;
CREATE TABLE IF NOT EXISTS hub.schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    profile     text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS hub.schema_info (key text PRIMARY KEY, value text NOT NULL);
""")


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    profile: str | None
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: str
    name: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    profile: str | None
    applied: tuple[AppliedMigration, ...]
    pending: tuple[str, ...]


def available_migrations(profile: str) -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("hub").joinpath("migrations").iterdir():
        match = _NAME.fullmatch(entry.name)
        if match is None:
            continue
        if match["profile"] not in (None, profile):
            continue
        found.append(
            Migration(match["version"], match["name"], match["profile"], entry.read_text("utf-8"))
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"Two migration files share a version for profile {profile}.")
    return found


def detect_profile(conn: psycopg.Connection[tuple[object, ...]], requested: str) -> str:
    row = conn.execute(
        "SELECT value FROM hub.schema_info WHERE key = 'storage_profile'"
    ).fetchone()
    if row is not None:
        recorded = str(row[0])
        if requested not in ("auto", recorded):
            raise MigrationError(
                f"This database uses the {recorded!r} storage profile; it cannot switch to "
                f"{requested!r}. Migrate a new database instead."
            )
        return recorded
    # Installed is not enough: the library must also be preloaded by the server.
    has_timescale = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') "
        "AND current_setting('shared_preload_libraries') LIKE '%%timescaledb%%'"
    ).fetchone()
    if requested == "auto":
        return "timescale" if has_timescale and has_timescale[0] else "plain"
    if requested == "timescale" and not (has_timescale and has_timescale[0]):
        raise MigrationError("The timescale profile was requested but TimescaleDB is not installed.")
    return requested


def _applied(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, tuple[str, str, datetime]]:
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at FROM hub.schema_migrations ORDER BY version"
    ).fetchall()
    return {str(v): (str(n), str(c), cast(datetime, a)) for v, n, c, a in rows}


def sync_catalogue(conn: psycopg.Connection[tuple[object, ...]], catalogue: Catalogue) -> None:
    """Store the kind catalogue so devices can reference their kind."""
    for name, spec in catalogue.specs.items():
        conn.execute(
            "INSERT INTO hub.device_kinds (name, spec) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, updated_at = now() "
            "WHERE hub.device_kinds.spec IS DISTINCT FROM EXCLUDED.spec",
            (name, Jsonb(spec)),
        )


def _role_race(exc: psycopg.Error) -> bool:
    # Roles and their grants are shared by every database of the server, and our
    # advisory lock is per database: two databases migrated at once (parallel test
    # runs, several hubs on one server) can collide on them. Trying again is safe.
    # PostgreSQL reports it only as an internal error, so its message must decide.
    return exc.sqlstate == "XX000" and "concurrently updated" in str(exc)


def _apply(conn: psycopg.Connection[tuple[object, ...]], migration: Migration, profile: str) -> None:
    for attempt in range(_ROLE_RACE_ATTEMPTS):
        try:
            with conn.transaction():
                # Migration files are static SQL shipped with cityhub, never user input.
                conn.execute(sql.SQL(migration.text))
                conn.execute(
                    "INSERT INTO hub.schema_migrations (version, name, profile, checksum) "
                    "VALUES (%s, %s, %s, %s)",
                    (migration.version, migration.name, profile, migration.checksum),
                )
            return
        except psycopg.Error as exc:
            if not _role_race(exc) or attempt + 1 == _ROLE_RACE_ATTEMPTS:
                raise MigrationError(f"Migration {migration.version}_{migration.name} failed: {exc}") from exc
            time.sleep(0.1 * (attempt + 1))


def migrate(url: str, catalogue: Catalogue, requested_profile: str = "auto") -> list[str]:
    """Apply pending migrations; return the versions applied (empty when up to date)."""
    done: list[str] = []
    with connection(url, application_name="cityhub-migrate") as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(_LEDGER)
        profile = detect_profile(conn, requested_profile)
        conn.execute(
            "INSERT INTO hub.schema_info VALUES ('storage_profile', %s) ON CONFLICT DO NOTHING",
            (profile,),
        )
        applied = _applied(conn)
        for migration in available_migrations(profile):
            known = applied.get(migration.version)
            if known is not None:
                if known[1] != migration.checksum:
                    raise MigrationError(
                        f"Migration {migration.version}_{migration.name} was changed after it "
                        "was applied; add a new migration instead of editing an applied one."
                    )
                continue
            _apply(conn, migration, profile)
            done.append(migration.version)
        sync_catalogue(conn, catalogue)
        conn.execute("SELECT hub.maintain()")
    return done


def migration_status(url: str) -> MigrationStatus:
    with connection(url, application_name="cityhub-migrate") as conn:
        exists = conn.execute("SELECT to_regclass('hub.schema_migrations') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            pending = tuple(m.version for m in available_migrations("plain"))
            return MigrationStatus(None, (), pending)
        profile_row = conn.execute(
            "SELECT value FROM hub.schema_info WHERE key = 'storage_profile'"
        ).fetchone()
        profile = str(profile_row[0]) if profile_row else None
        applied = _applied(conn)
        pending = tuple(
            m.version for m in available_migrations(profile or "plain") if m.version not in applied
        )
        return MigrationStatus(
            profile,
            tuple(AppliedMigration(v, n, a) for v, (n, _c, a) in applied.items()),
            pending,
        )
