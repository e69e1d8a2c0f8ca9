"""A private PostgreSQL server the scenarios may stop hard and fill up.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
(Debian's packages make it). The binaries are the newest of /usr/lib/postgresql/*/bin
(Debian's server packages) or the first `pg_ctl` on PATH.

The disk-full scenario puts a database on a tablespace in a small tmpfs, which only
root may mount; elsewhere it is ``Unsupported``.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from psycopg import sql

from hub.catalogue import Catalogue
from hub.db import connect
from hub.embedded import free_port, wait_for_port
from hub.migrate import migrate
from hub.scratch import with_database
from ingest.chaos.errors import ChaosError, Unsupported

log = logging.getLogger(__name__)

_RUN_AS = "postgres"


def server_binaries() -> Path:
    """The folder holding initdb and pg_ctl."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                    key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    raise Unsupported("no PostgreSQL server binaries (initdb, pg_ctl): install Debian's "
                      "postgresql package to run the database scenarios")


class PrivatePostgres:
    """A server of our own in *directory*, always on the same port, so that ingest's
    URL stays valid across a hard stop and a restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.bin = server_binaries()
        self._user: str | None = None
        self._mounts: list[Path] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(_RUN_AS)
            except KeyError as exc:
                raise Unsupported(f"running as root and there is no {_RUN_AS!r} user for "
                                  "PostgreSQL, which refuses to run as root") from exc
            self._user = _RUN_AS

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), "-D", str(self.data), *args]
        done = subprocess.run(command, capture_output=True, text=True, user=self._user,
                              check=False)
        if done.returncode != 0:
            raise ChaosError(f"{tool} failed: {done.stderr.strip()[-1000:]}")

    def start(self) -> None:
        """Initialise (the first time) and start; returns once it takes connections."""
        if not (self.data / "PG_VERSION").exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            self.directory.chmod(0o755)
            self.data.mkdir(mode=0o700, exist_ok=True)
            self._chown(self.data)
            self._run("initdb", "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                      "--no-locale", "--no-sync")
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.data} "
                   "-c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-w", "-t", "60", "-l", str(self.data / "server.log"), "-o", options,
                  "start")
        if not wait_for_port(self.port, 30):
            raise ChaosError(f"the private PostgreSQL did not listen on port {self.port}")

    def stop_hard(self) -> None:
        """`pg_ctl stop -m immediate`: every process quits at once, no checkpoint, as if
        the machine lost power; the next start runs crash recovery."""
        self._run("pg_ctl", "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-m", "fast", "-w", "stop")

    def close(self) -> None:
        with suppress(ChaosError):
            self.stop()
        for mount in self._mounts:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    @contextmanager
    def database(self, catalogue: Catalogue, *, tablespace: str | None = None) -> Iterator[str]:
        """A migrated database (on *tablespace* when given), dropped on the way out."""
        name = f"chaos_{secrets.token_hex(4)}"
        where = sql.SQL(" TABLESPACE {}").format(sql.Identifier(tablespace)) if tablespace else sql.SQL("")
        with connect(self.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}{}").format(sql.Identifier(name), where))
        url = with_database(self.admin_url, name)
        try:
            migrate(url, catalogue)
            yield url
        finally:
            with suppress(Exception), connect(self.admin_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))

    def small_tablespace(self, name: str, megabytes: int) -> SmallDisk:
        """A tablespace on a tmpfs of *megabytes*, which the scenario fills and frees."""
        mount = self.directory / f"disk-{name}"
        mount.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0755",
                               "tmpfs", str(mount)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise Unsupported("the disk-full scenario mounts a small tmpfs for a tablespace, "
                              f"and mount refused: {done.stderr.strip()} (it needs root, or "
                              "CAP_SYS_ADMIN in a container)")
        self._mounts.append(mount)
        location = mount / "pg"
        location.mkdir()
        self._chown(location)
        with connect(self.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(
                sql.Identifier(name), sql.Literal(str(location))))
        return SmallDisk(mount)


class SmallDisk:
    """The tmpfs under a tablespace: `fill` takes every free byte, `free` gives them back."""

    CHUNK = 1 << 20

    def __init__(self, mount: Path) -> None:
        self.mount = mount
        self.filler = mount / "filler"

    def fill(self) -> int:
        """Write a file until the disk is full; returns its size in bytes."""
        written = 0
        block = b"\0" * self.CHUNK
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                try:
                    written += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    return written
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)
