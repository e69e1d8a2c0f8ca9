"""Fixtures of the browser tests: the console's (tests/ops_console), Debian's Chromium and
the folder for screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.ops_console.conftest import accounts, console_app, console_server, console_settings

__all__ = ["accounts", "artifacts", "chromium", "console_app", "console_server", "console_settings"]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; never a browser downloaded by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; `make test` installs it (scripts/install-test-tools).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $CITYHUB_TEST_ARTIFACTS, or the test's tmp dir."""
    directory = Path(os.environ.get("CITYHUB_TEST_ARTIFACTS") or tmp_path) / "browser"
    directory.mkdir(parents=True, exist_ok=True)
    return directory
