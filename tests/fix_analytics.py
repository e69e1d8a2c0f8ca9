"""`cityhub analytics` as a child process, for the tests that need alerts raised."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import child_env
from tests.waiting import wait_for


class AnalyticsProcess:
    def __init__(self, database_url: str, log_path: Path) -> None:
        self.env = child_env(CITYHUB_DATABASE_URL=database_url, CITYHUB_ANALYTICS_METRICS_PORT="0")
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        ready_before = self.log().count("analytics ready")
        with self.log_path.open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "hub", "analytics"], env=self.env,
                                       stdout=log, stderr=subprocess.STDOUT)
        self.process = process
        wait_for(lambda: self.log().count("analytics ready") > ready_before or process.poll() is not None,
                 timeout=30, what="analytics to start")
        assert process.poll() is None, self.log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)
        assert self.process is None or self.process.returncode == 0, self.log()


@pytest.fixture(scope="module")
def analytics(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnalyticsProcess]:
    process = AnalyticsProcess(database_url, Path(tmp_path_factory.mktemp("analytics")) / "analytics.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
