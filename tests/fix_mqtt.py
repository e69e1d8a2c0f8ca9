"""A throw-away Mosquitto for the test run, on a free port of 127.0.0.1: anonymous (the
`broker` fixture), or with the logins of a database (`secure_mosquitto`)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from hub.broker import write_config as write_broker_files
from hub.broker_files import conf_snippet
from hub.embedded import free_port, mosquitto_binary, wait_for_port


@dataclass(frozen=True)
class Broker:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def write_config(directory: Path, port: int) -> Path:
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "max_queued_messages 0\n"
        "max_inflight_messages 0\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("Mosquitto is not installed; `make test` installs it (scripts/install-mosquitto).")
    directory = Path(tmp_path_factory.mktemp("mosquitto"))
    port = free_port()
    log = (directory / "mosquitto.log").open("wb")
    process = subprocess.Popen([binary, "-c", str(write_config(directory, port))],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for_port(port, 15):
            pytest.fail(f"Mosquitto did not start: {(directory / 'mosquitto.log').read_text()}")
        yield Broker("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def mosquitto_owner() -> tuple[int, int] | None:
    """(uid, gid) to give the broker's files: Mosquitto started as root drops to its own user."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("mosquitto")
    return entry.pw_uid, entry.pw_gid


@dataclass(frozen=True)
class SecureBroker:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def broker(self) -> Broker:
        return Broker("127.0.0.1", self.port)

    def url(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@127.0.0.1:{self.port}"


@contextmanager
def secure_mosquitto(database_url: str) -> Iterator[SecureBroker]:
    """Mosquitto with the password file and ACL `cityhub broker config` writes from the
    registry of *database_url* (anonymous logins off); the ingest account must exist."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.fail("Mosquitto is not installed; `make test` installs it (scripts/install-mosquitto).")
    # Not pytest's tmp_path: its 0700 parents would keep the broker's own user out.
    directory = Path(tempfile.mkdtemp(prefix="cityhub-broker-"))
    directory.chmod(0o755)
    with psycopg.connect(database_url) as conn:
        write_broker_files(conn, directory, owner=mosquitto_owner())
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\npersistence false\n" + conf_snippet(directory),
                      encoding="utf-8")
    log = (directory / "mosquitto.log").open("wb")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for_port(port, 15):
            pytest.fail(f"Mosquitto did not start: {(directory / 'mosquitto.log').read_text()}")
        yield SecureBroker(port, directory, process)
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        shutil.rmtree(directory, ignore_errors=True)
