"""A throw-away Mosquitto for the test run, on a free port of 127.0.0.1: anonymous (the
`broker` fixture), or with the logins of a database (`secure_mosquitto`)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from hub.broker import write_config as write_broker_files
from hub.embedded import ThrowawayBroker, mosquitto_owner, throwaway_config
from hub.errors import ConfigError


@dataclass(frozen=True)
class Broker:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def write_config(directory: Path, port: int) -> Path:
    """An anonymous broker's mosquitto.conf in *directory*, for tests that run their own."""
    config = directory / "mosquitto.conf"
    config.write_text(throwaway_config(port), encoding="utf-8")
    return config


@contextmanager
def _running(directory: Path, *, logins: bool) -> Iterator[ThrowawayBroker]:
    try:
        running = ThrowawayBroker(directory, logins=logins)
        running.start()
    except ConfigError as exc:
        # `make test` installs Mosquitto (scripts/install-mosquitto).
        pytest.fail(str(exc))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with _running(Path(tmp_path_factory.mktemp("mosquitto")), logins=False) as running:
        yield Broker("127.0.0.1", running.port)


@dataclass(frozen=True)
class SecureBroker:
    port: int
    directory: Path
    pid: int  # for SIGHUP after the broker files change

    @property
    def broker(self) -> Broker:
        return Broker("127.0.0.1", self.port)

    def url(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@127.0.0.1:{self.port}"


@contextmanager
def secure_mosquitto(database_url: str) -> Iterator[SecureBroker]:
    """Mosquitto with the password file and ACL `cityhub broker config` writes from the
    registry of *database_url* (anonymous logins off); the ingest account must exist."""
    # Not pytest's tmp_path: its 0700 parents would keep the broker's own user out.
    directory = Path(tempfile.mkdtemp(prefix="cityhub-broker-"))
    try:
        directory.chmod(0o755)
        with psycopg.connect(database_url) as conn:
            write_broker_files(conn, directory, owner=mosquitto_owner())
        with _running(directory, logins=True) as running:
            assert running.pid is not None
            yield SecureBroker(running.port, directory, running.pid)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
