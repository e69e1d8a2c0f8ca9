"""deploy/prometheus/alerts.yml: valid for Prometheus, firing when it should, and reading only
metrics that exist; docs/operations.md's table lists exactly the metrics the services export."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from analytics.metrics import AnalyticsMetrics
from hub.settings import load_settings
from ingest.metrics import IngestMetrics
from ops_console.app import create_app

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yml")
OPERATIONS = ROOT / "docs" / "operations.md"

# PromQL words that are not metric names.
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
             "group_right", "offset", "bool", "inf", "nan"}


def sample_names(text: str) -> set[str]:
    """The series names a /metrics page can hold, from its families (a labelled family
    with no child yet has no samples, but its name is known)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        if family.name.endswith("_created"):
            continue
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


def ingest_names() -> set[str]:
    return sample_names(generate_latest(IngestMetrics(backlog=lambda: 0.0).registry).decode())


def analytics_names() -> set[str]:
    return sample_names(generate_latest(AnalyticsMetrics().registry).decode())


def console_names() -> set[str]:
    settings = load_settings({}, database_url="postgresql://nobody@127.0.0.1:9/unused",
                             demo=True)
    app = create_app(settings)

    async def scrape() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
            assert (await client.get("/healthz")).status_code == 200
            return (await client.get("/metrics")).text

    return sample_names(asyncio.run(scrape()))


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if not call and word.lower() not in _KEYWORDS:
            names.add(word)
    return names


def table_rows() -> dict[str, tuple[str, str]]:
    """docs/operations.md's metrics table: name → (type, service)."""
    rows = {}
    for line in OPERATIONS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"`[a-z_:]+`", cells[0]):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_metric_names_are_read_from_promql() -> None:
    assert metric_names('sum(rate(a_total{x="b"}[5m])) / clamp_min(sum(rate(c[5m])), 1) > 0.05'
                        ) == {"a_total", "c"}
    assert metric_names("max by (instance) (up) == 0 and x < 0.7 * sum(y offset 5m)"
                        ) == {"up", "x", "y"}


def test_every_rule_is_complete() -> None:
    found = rules()
    assert len(found) >= 10
    names = [r["alert"] for r in found]
    assert len(names) == len(set(names))
    for rule in found:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    # The list: backlog and commit lag, reject rate, database write latency,
    # broker connections, console WebSocket clients, dead-letter growth; analytics' lag.
    read = set().union(*(metric_names(r["expr"]) for r in found))
    assert {"cityhub_ingest_backlog", "cityhub_ingest_commit_lag_seconds_bucket",
            "cityhub_ingest_rejected_total", "cityhub_ingest_batch_seconds_bucket",
            "emqx_live_connections_count", "cityhub_console_ws_clients",
            "cityhub_analytics_lag_seconds"} <= read


def test_every_metric_the_rules_read_is_exported_or_documented() -> None:
    exported = ingest_names() | console_names() | analytics_names()
    documented = table_rows()
    for rule in rules():
        for name in metric_names(rule["expr"]):
            if name.startswith("cityhub_"):
                assert name in exported, f"{rule['alert']} reads {name}, which no service exports"
            else:  # another program's metric (EMQX, Prometheus itself)
                assert name in documented, f"{rule['alert']} reads {name}, not in operations.md"


def test_the_metrics_table_lists_exactly_what_the_services_export() -> None:
    documented = table_rows()
    ours = {n: s for n, (_, s) in documented.items() if n.startswith("cityhub_")}
    assert {n for n, s in ours.items() if s == "ingest"} == _families(ingest_names())
    assert {n for n, s in ours.items() if s == "console"} == _families(console_names())
    assert {n for n, s in ours.items() if s == "analytics"} == _families(analytics_names())
    assert set(ours.values()) == {"ingest", "console", "analytics"}


def _families(names: set[str]) -> set[str]:
    """Series names as the table lists them: a histogram once, by its family name."""
    out = set()
    for name in names:
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and f"{name[: -len(suffix)]}_bucket" in names:
                name = name[: -len(suffix)]
        out.add(name)
    return out


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)")


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_rules_fire_as_their_unit_tests_say() -> None:
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, "test", "rules", UNIT_TESTS.name], cwd=UNIT_TESTS.parent,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
