"""A throw-away Mosquitto for the test run, on a free port of 127.0.0.1."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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
