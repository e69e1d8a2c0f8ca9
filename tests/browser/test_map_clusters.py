"""The map with the demo's 40 devices, in Debian's Chromium (Playwright).

A database of its own holds exactly the devices `cityhub up` registers, so the map's
markers and cluster counts can be added up. Screenshots go to $CITYHUB_TEST_ARTIFACTS
(default: the test's tmp dir).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from hub.catalogue import Catalogue
from hub.cli.up import DEMO_DEVICES
from hub.db import connection
from hub.registry import add_missing
from hub.scratch import scratch_database
from hub.settings import load_settings
from ops_console.app import create_app
from ops_console.testing import Accounts, ConsoleServer, serve

pytestmark = pytest.mark.integration

# What the browser reports against the page's Content-Security-Policy (zooming, clusters and
# the tooltip must not need inline styles or handlers).
WATCH_POLICY = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""
EN = json.loads((Path(__file__).parents[2] / "ops_console/web/static/i18n.json").read_text())["en"]


@pytest.fixture(scope="module")
def demo_console(pg_admin_url: str, catalogue: Catalogue) -> Iterator[tuple[ConsoleServer, Accounts]]:
    """A console on a database holding the demo's 40 devices and nothing else."""
    with scratch_database(pg_admin_url, f"cityhub_test_{os.getpid()}_map", catalogue) as url:
        with connection(url) as conn:
            add_missing(conn, catalogue, DEMO_DEVICES)
        settings = load_settings({}, database_url=url, secret_key=secrets.token_urlsafe(32),
                                 console_origins="http://127.0.0.1")
        with serve(create_app(settings)) as server:
            yield server, Accounts(url, server)


def open_board(chromium: Browser, server: ConsoleServer, accounts: Accounts) -> tuple[Page, list[str]]:
    page = chromium.new_page(viewport={"width": 1400, "height": 950})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script(WATCH_POLICY)
    username, password = accounts.user_for("operator")
    page.goto(server.base_url + "/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#board")).to_be_visible()
    expect(page.locator("circle[data-device]")).to_have_count(len(DEMO_DEVICES))
    return page, errors


def visible_markers(page: Page) -> list[dict[str, float | str]]:
    """Each marker drawn (single device or cluster) with its box on screen and its count."""
    found: list[dict[str, float | str]] = page.evaluate("""() =>
        [...document.querySelectorAll('#map circle.device, #map g.cluster')]
          .filter((n) => getComputedStyle(n).display !== 'none')
          .map((n) => { const b = n.getBoundingClientRect();
            return { id: n.dataset.device || '', count: Number(n.dataset.count || 1),
                     x: b.x, y: b.y, w: b.width, h: b.height }; })""")
    return found


def overlapping(markers: list[dict[str, float | str]]) -> list[tuple[object, object]]:
    def box(m: dict[str, float | str]) -> tuple[float, float, float, float]:
        return float(m["x"]), float(m["y"]), float(m["x"]) + float(m["w"]), float(m["y"]) + float(m["h"])
    pairs: list[tuple[object, object]] = []
    for n, a in enumerate(markers):
        ax0, ay0, ax1, ay1 = box(a)
        for b in markers[n + 1:]:
            bx0, by0, bx1, by1 = box(b)
            if ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1:
                pairs.append((a, b))
    return pairs


def tip(page: Page) -> Locator:
    return page.get_by_test_id("map-tip")


def test_the_demo_devices_are_distinct_markers_or_clusters_that_add_up_with_tooltips(
    chromium: Browser, demo_console: tuple[ConsoleServer, Accounts], artifacts: Path,
) -> None:
    server, accounts = demo_console
    page, errors = open_board(chromium, server, accounts)

    # The whole city: the districts' devices are clusters; nothing is drawn on top of another.
    whole = visible_markers(page)
    assert sum(int(m["count"]) for m in whole) == len(DEMO_DEVICES)
    assert len(whole) < len(DEMO_DEVICES)
    assert overlapping(whole) == []
    page.screenshot(path=str(artifacts / "map-clusters.png"), full_page=True)
    page.screenshot(path="/tmp/cityhub-map-clusters.png")

    # Hovering a cluster tells how many devices it holds and of which kinds.
    biggest = page.locator("#map g.cluster").first
    count = int(biggest.get_attribute("data-count") or 0)
    assert count > 1
    biggest.hover()
    expect(tip(page)).to_be_visible()
    expect(tip(page)).to_contain_text(EN["map.cluster"].replace("{count}", str(count)))
    expect(tip(page)).to_contain_text(EN["kind.smart_meter"])

    # Clicking it zooms in until each of its devices stands alone; the counts still add up.
    biggest.click()
    expect(page.locator("#map")).not_to_have_attribute("data-zoom", "1.00")
    zoomed = visible_markers(page)
    assert len(zoomed) > len(whole)
    assert sum(int(m["count"]) for m in zoomed) == len(DEMO_DEVICES)
    assert overlapping(zoomed) == []
    singles = page.locator("#map circle.device:not(.clustered)")
    assert singles.count() >= count

    # Hovering a single marker names the device, its kind and its status.
    marker = singles.first
    device_id = marker.get_attribute("data-device")
    assert device_id
    marker.hover()
    expect(tip(page)).to_contain_text(device_id)
    expect(tip(page)).to_contain_text(EN["legend.never"])
    page.screenshot(path=str(artifacts / "map-zoomed.png"), full_page=True)
    page.screenshot(path="/tmp/cityhub-map-zoomed.png")

    # Keyboard users get the same tooltip on focus; leaving hides it.
    page.mouse.move(5, 5)
    expect(tip(page)).to_be_hidden()
    singles.nth(1).focus()
    expect(tip(page)).to_contain_text(singles.nth(1).get_attribute("data-device") or "?")

    # Back to the whole city.
    page.get_by_test_id("map-zoom_reset").click()
    expect(page.locator("#map")).to_have_attribute("data-zoom", "1.00")
    assert sum(int(m["count"]) for m in visible_markers(page)) == len(DEMO_DEVICES)
    assert page.evaluate("window.__violations") == []
    assert not errors, errors


def test_clustering_keeps_every_point_once_and_leaves_no_two_groups_closer_than_the_radius(
    chromium: Browser, demo_console: tuple[ConsoleServer, Accounts],
) -> None:
    server, _ = demo_console
    page = chromium.new_page()
    page.goto(server.base_url + "/")
    result: dict[str, object] = page.evaluate("""async () => {
        const { cluster } = await import('/static/js/cluster.js');
        let seed = 7;
        const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
        const points = Array.from({ length: 600 }, (_, i) => ({ id: 'd' + i,
          x: random() < 0.5 ? 100 + random() * 30 : random() * 800, y: random() * 620 }));
        const groups = cluster(points, 26);
        const ids = groups.flatMap((g) => g.members.map((m) => m.id));
        let closest = Infinity;
        for (let i = 0; i < groups.length; i++) for (let j = i + 1; j < groups.length; j++)
          closest = Math.min(closest, Math.hypot(groups[i].x - groups[j].x, groups[i].y - groups[j].y));
        return { points: points.length, ids: ids.length, distinct: new Set(ids).size,
                 groups: groups.length, closest };
    }""")
    assert result["ids"] == result["distinct"] == result["points"]
    assert isinstance(result["groups"], int)
    assert result["groups"] < 600
    assert isinstance(result["closest"], int | float)
    assert result["closest"] >= 26
