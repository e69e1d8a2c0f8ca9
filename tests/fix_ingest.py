"""The real ingest service as a child process, as operators run it."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.embedded import free_port
from hub.pseudonym import PseudonymKeys, ensure_keys
from tests.fix_mqtt import Broker
from tests.helpers import child_env
from tests.waiting import wait_for


class IngestProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.metrics_port = int(env["CITYHUB_INGEST_METRICS_PORT"])

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "hub", "ingest"], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for(lambda: self.metric("cityhub_ingest_ready") == 1.0 or self._died(),
                 timeout=30, what="ingest to connect and subscribe")
        assert self.process.poll() is None, self.log()

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())

    def metric(self, name: str) -> float | None:
        try:
            text = self.metrics_text()
        except OSError:
            return None
        total = None
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
        return total

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(tmp_path_factory.mktemp("keys")) / "pseudonym-keys.json"
    ensure_keys(path)
    return path


@pytest.fixture(scope="session")
def keys(key_file: Path) -> PseudonymKeys:
    return ensure_keys(key_file)


def ingest_env(database_url: str, broker: Broker, key_file: Path, **extra: str) -> dict[str, str]:
    return child_env(**{
        "CITYHUB_DATABASE_URL": database_url,
        "CITYHUB_MQTT_URL": broker.url,
        "CITYHUB_SECRET_KEY": secrets.token_urlsafe(32),
        "CITYHUB_PSEUDONYM_KEY_FILE": str(key_file),
        "CITYHUB_INGEST_METRICS_PORT": str(free_port()),
        "CITYHUB_INGEST_CLIENT_ID": f"test-ingest-{secrets.token_hex(4)}",
        "CITYHUB_INGEST_SHARED_GROUP": f"test-{secrets.token_hex(4)}",
        "CITYHUB_INGEST_BATCH_MS": "20",
        **extra,
    })


@pytest.fixture(scope="session")
def ingest(
    database_url: str, broker: Broker, key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IngestProcess]:
    log = Path(tmp_path_factory.mktemp("ingest")) / "ingest.log"
    process = IngestProcess(ingest_env(database_url, broker, key_file), log)
    process.start()
    try:
        yield process
    finally:
        process.stop()
