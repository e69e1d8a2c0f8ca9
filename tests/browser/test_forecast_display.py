"""A forecast's pre-alert on the board (Debian's Chromium): its badge in the queue and the
alert, and the station's chart continuing into the forecast, dashed."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, expect

from analytics.forecast.model import Forecast
from analytics.forecast.prealert import Advisory, crossings, occurrences
from hub.alert_store import raise_or_update
from hub.catalogue import Catalogue
from ops_console.testing import Accounts, ConsoleServer
from tests.browser.test_board import log_in
from tests.helpers import Conn, new_device

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
RUN = [92.0, 95.5, 97.0, 96.0, 90.0, 85.0]


def pre_alert(database_url: str, station: str, made_at: datetime) -> None:
    """What the service raises for this run (analytics/forecast/live.py), for this station only."""
    run = [Forecast(station, made_at - HOUR, h, made_at + (h - 1) * HOUR, v) for h, v in enumerate(RUN, 1)]
    advisory = Advisory(75.0, 2, "advisory (주의보)")
    found, _ = crossings(run, advisory)

    async def raise_it() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await raise_or_update(conn, occurrences(found, made_at, {station: "jung-gu"}, advisory))

    # Playwright's sync API keeps an event loop in this thread: run the raise in another.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, raise_it()).result()


def test_the_pre_alert_has_a_forecast_badge_and_the_chart_a_dashed_forecast(
    chromium: Browser, console_server: ConsoleServer, accounts: Accounts, db: Conn, catalogue: Catalogue,
    database_url: str, artifacts: Path,
) -> None:
    station = new_device(db, catalogue, "air_quality", prefix="fc", zone="jung-gu", lat=37.5641, lon=126.9979)
    now = datetime.now(UTC)
    made_at = now.replace(minute=0, second=0, microsecond=0)
    with db.cursor() as cur:
        # PM2.5 rising over the last three hours, then the forecast run made at this hour.
        cur.executemany("INSERT INTO hub.telemetry (ts, device_id, metric, value) "
                        "VALUES (%s, %s, 'pm25', %s)",
                        [(now - timedelta(minutes=10 * i), station, 90.0 - i) for i in range(18)])
        cur.executemany(
            "INSERT INTO hub.forecasts (device_id, metric, made_at, target_at, horizon_h, value, "
            "model_version) VALUES (%s, 'pm25', %s, %s, %s, %s, 1)",
            [(station, made_at, made_at + (h - 1) * HOUR, h, v) for h, v in enumerate(RUN, 1)])
    pre_alert(database_url, station, made_at)

    page = chromium.new_page(viewport={"width": 1400, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, console_server, *accounts.user_for("operator"))
    queued = page.locator(f'#queue li:has-text("{station}")')
    expect(queued.get_by_test_id("forecast-badge")).to_have_text("Forecast")
    queued.click()
    detail = page.get_by_test_id("alert-detail")
    expect(detail.get_by_test_id("detail-title")).to_contain_text("Forecast: PM2.5")
    expect(detail.get_by_test_id("forecast-badge")).to_be_visible()
    table = detail.get_by_test_id("forecast-table")
    expect(table.locator("tr")).to_have_count(1 + len(RUN))
    expect(table.locator("tr").nth(3)).to_contain_text("97.0")
    chart = detail.get_by_test_id("chart")
    expect(chart).to_have_attribute("data-forecast-points", str(len(RUN)))
    expect(chart.locator("canvas")).to_have_count(1)
    # The forecast is a series of its own, shown (uPlot marks a hidden series' legend u-off).
    forecast_series = chart.locator(".u-legend .u-series", has_text="forecast")
    expect(forecast_series).to_have_count(1)
    expect(forecast_series).not_to_have_class("u-series u-off")
    page.screenshot(path=str(artifacts / "forecast.png"), full_page=True)
    assert not errors, errors
