"""The rules page as a supervisor uses it: open it from the board, read a rule, edit it with a
mistake (the reason is shown), fix it, and disable it."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from ops_console.testing import Accounts, ConsoleServer
from tests.browser.test_board import log_in

pytestmark = pytest.mark.integration


def test_a_supervisor_edits_and_disables_a_rule_on_the_page(
    chromium: Browser, console_server: ConsoleServer, accounts: Accounts, artifacts: Path,
) -> None:
    username, password = accounts.user_for("supervisor")
    page = chromium.new_page(viewport={"width": 1400, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, console_server, username, password)
    page.get_by_test_id("rules-link").click()

    rows = page.get_by_test_id("rules")
    expect(rows.locator('tr[data-rule="pm25-fine-dust"]')).to_be_visible()

    # A new rule, first with a mistake: the server's reason names the field.
    rule_id = f"page-{secrets.token_hex(3)}"
    page.get_by_test_id("new-rule").click()
    editor = page.get_by_test_id("editor")
    doc = json.loads(editor.input_value())
    doc |= {"id": rule_id, "title": "Trial", "levels": [{"severity": "urgent", "above": 75}]}
    editor.fill(json.dumps(doc))
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("rule-error")).to_contain_text("levels.0.severity: must be one of")
    editor.fill("{ not json")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("rule-error")).to_contain_text("Not valid JSON")

    doc["levels"] = [{"severity": "warning", "above": 75}]
    editor.fill(json.dumps(doc))
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("rule-name")).to_have_text(f"{rule_id} · v1")
    expect(page.get_by_test_id("rule-error")).to_have_text("")

    # Disabling is a new version, listed with the others.
    page.get_by_test_id("toggle").click()
    expect(page.get_by_test_id("rule-name")).to_have_text(f"{rule_id} · v2")
    expect(page.get_by_test_id("versions").locator("li")).to_have_count(2)
    expect(rows.locator(f'tr[data-rule="{rule_id}"]')).to_have_class("disabled selected")
    page.screenshot(path=str(artifacts / "rules.png"), full_page=True)
    assert errors == []
