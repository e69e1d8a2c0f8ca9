"""The board in Debian's Chromium (Playwright): log in, watch an alert arrive live, work it.

Runs the real pipeline: Mosquitto, the ingest service and the analytics service as
processes, the console in a uvicorn server, all on the test database. Screenshots go
to $CITYHUB_TEST_ARTIFACTS (default: the test's tmp dir).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hub.catalogue import Catalogue
from ops_console.testing import Accounts, ConsoleServer
from tests.fix_analytics import AnalyticsProcess
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, new_device, now_iso
from tests.mqtt_client import device

pytestmark = pytest.mark.integration


def log_in(page: Page, server: ConsoleServer, username: str, password: str) -> None:
    page.goto(server.base_url + "/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#board")).to_be_visible()
    expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "connected", timeout=10_000)


def test_an_alert_appears_live_and_is_worked_to_the_audit_log(
    chromium: Browser, console_server: ConsoleServer, accounts: Accounts, db: Conn, catalogue: Catalogue,
    broker: Broker, ingest: IngestProcess, analytics: AnalyticsProcess, artifacts: Path,
) -> None:
    station = new_device(db, catalogue, "air_quality", prefix="board", zone="jung-gu",
                         lat=37.5663, lon=126.9779)
    username, password = accounts.user_for("supervisor")
    page = chromium.new_page(viewport={"width": 1400, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, console_server, username, password)

    # The station is on the map.
    marker = page.locator(f'circle[data-device="{station}"]')
    expect(marker).to_be_attached()

    # A sharp PM10 rise published over MQTT (rule pm10-sudden-rise) shows up as an alert, live
    # (how fast is measured by `cityhub bench analytics`, not here).
    with device(broker) as mqtt:
        before = (datetime.now(UTC) - timedelta(seconds=60)).isoformat()
        mqtt.publish(f"cityhub/v1/{station}/telemetry", {"ts": before, "pm10": 30.0})
        mqtt.publish(f"cityhub/v1/{station}/telemetry", {"ts": now_iso(), "pm10": 420.0})
        queued = page.locator(f'#queue li[data-severity="critical"]:has-text("{station}")')
        expect(queued).to_be_visible(timeout=30_000)
    # The marker shows the station's CAI category on its hourly mean (225 µg/m³: very bad).
    expect(marker).to_have_attribute("data-category", "very_unhealthy")
    page.screenshot(path=str(artifacts / "board.png"), full_page=True)

    # Acknowledge, then resolve it from the detail panel.
    queued.click()
    detail = page.get_by_test_id("alert-detail")
    expect(detail.get_by_test_id("detail-title")).to_contain_text("PM10")
    expect(detail.get_by_test_id("sop").locator("li")).not_to_have_count(0)
    # The built-in rule's first version raised it; it suggests no agency.
    expect(detail.get_by_test_id("detail-rule")).to_have_text("pm10-sudden-rise, version 1")
    expect(detail.get_by_test_id("detail-agency")).to_have_text("—")
    detail.get_by_test_id("acknowledge").click()
    expect(detail.get_by_test_id("detail-state")).to_have_text("Acknowledged")
    detail.get_by_test_id("outcome").select_option("handled")
    detail.get_by_test_id("note").fill("advisory issued")
    detail.get_by_test_id("resolve").click()
    expect(detail.get_by_test_id("detail-state")).to_have_text("Resolved")
    expect(queued).to_have_count(0)

    # The supervisor finds both actions in the audit log.
    audit = page.get_by_test_id("audit-log")
    expect(audit).to_contain_text("alert.resolve")
    expect(audit).to_contain_text("alert.acknowledge")
    assert not errors, errors


def test_korean_labels_render_with_the_served_font(
    chromium: Browser, console_server: ConsoleServer, accounts: Accounts, artifacts: Path
) -> None:
    page = chromium.new_page(viewport={"width": 1400, "height": 950})
    log_in(page, console_server, *accounts.user_for("operator"))
    page.get_by_test_id("lang").click()
    expect(page.locator("#board h1")).to_have_text("통합운영센터")
    expect(page.locator(".zone-label", has_text="중구")).to_have_count(1)
    # The Hangul glyphs come from the console's own Noto Sans KR files, not the system.
    page.evaluate("document.fonts.ready")
    loaded = page.evaluate("document.fonts.check('16px \"Noto Sans KR\"', '통합운영센터')")
    assert loaded is True
    page.screenshot(path=str(artifacts / "board-ko.png"), full_page=True)
    page.get_by_test_id("lang").click()
    expect(page.locator("#board h1")).to_have_text("Operations centre")
