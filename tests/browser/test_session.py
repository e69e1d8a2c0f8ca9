"""The page under its Content-Security-Policy, with no token where a script could read it.

Debian's Chromium (Playwright): log in, the board and the live view work, a reload
keeps the operator logged in through the HttpOnly cookie, no token is in
``document.cookie``, localStorage or sessionStorage, the browser reports no policy
violation, and logging out removes the cookie.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from hub.catalogue import Catalogue
from ops_console.testing import Accounts, ConsoleServer
from tests.helpers import Conn, new_device

pytestmark = pytest.mark.integration

# Collects what the browser reports; kept on window, so read it before a reload.
WATCH_POLICY = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""
READ_STORES = """() => JSON.stringify({cookie: document.cookie,
  local: Object.entries(localStorage), session: Object.entries(sessionStorage)})"""


def refresh_cookie(context: BrowserContext) -> dict[str, object] | None:
    found = [dict(c) for c in context.cookies() if c["name"] == "cityhub_refresh"]
    return found[0] if found else None


def assert_no_token_readable(page: Page, *tokens: str) -> None:
    stores = str(page.evaluate(READ_STORES))
    assert "eyJ" not in stores, stores  # no JWT
    for token in tokens:
        assert token not in stores


def assert_live_board(page: Page, station: str) -> None:
    expect(page.locator("#board")).to_be_visible()
    expect(page.locator("#login")).to_be_hidden()
    expect(page.locator(f'#map [data-device="{station}"]')).to_be_attached()
    expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "connected", timeout=10_000)


def test_the_page_keeps_no_readable_token_and_runs_under_its_policy(
    chromium: Browser, console_server: ConsoleServer, accounts: Accounts, db: Conn, catalogue: Catalogue
) -> None:
    station = new_device(db, catalogue, "air_quality", prefix="csp", zone="jung-gu",
                         lat=37.5663, lon=126.9779)
    # A zone the live protocol cannot name must not cost the page its live view.
    new_device(db, catalogue, "air_quality", prefix="csp", zone="mapo-gu/hapjeong")
    username, password = accounts.user_for("operator")
    context = chromium.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.add_init_script(WATCH_POLICY)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text) if _is_policy(message) else None)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    first = page.goto(console_server.base_url + "/")
    assert first is not None
    assert "script-src 'self'" in first.headers["content-security-policy"]
    expect(page.locator("#login")).to_be_visible()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_response("**/api/v1/auth/login") as answer:
        page.click("#login-form button[type=submit]")
    access_token = str(answer.value.json()["access_token"])
    assert answer.value.json()["refresh_token"] is None
    assert_live_board(page, station)

    cookie = refresh_cookie(context)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/api/v1/auth"
    assert_no_token_readable(page, access_token, str(cookie["value"]))
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("window.__violations") == []

    # A reload forgets the in-memory access token; the cookie brings the board back.
    page.reload()
    assert_live_board(page, station)
    expect(page.locator("#who")).to_contain_text(username)
    rotated = refresh_cookie(context)
    assert rotated is not None
    assert rotated["value"] != cookie["value"]
    assert_no_token_readable(page, access_token, str(cookie["value"]), str(rotated["value"]))
    assert page.evaluate("window.__violations") == []

    # Logging out ends the session and removes the cookie: a reload shows the login form.
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    assert refresh_cookie(context) is None
    page.reload()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#board")).to_be_hidden()
    assert page.evaluate("window.__violations") == []
    assert not console, console
    assert not errors, errors
    context.close()


def _is_policy(message: ConsoleMessage) -> bool:
    return "Content Security Policy" in message.text or "Content-Security-Policy" in message.text
