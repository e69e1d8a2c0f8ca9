"""`cityhub` registers only the plugin command it runs (the others' imports cost seconds),
and all of them when asked for help or an unknown name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Registers plugins as `cityhub ARGS…` would, then reports what got registered and imported.
_PROBE = """
import json, sys
from hub.cli import main
main._plugins(sys.argv[1:])
names = {c.name for c in main.app.registered_commands} | {g.name for g in main.app.registered_groups}
print(json.dumps({"commands": sorted(n for n in names if n),
                  "benches": sorted(c.name for c in main.bench.registered_commands if c.name),
                  "packages": sorted({m.partition(".")[0] for m in sys.modules}
                                     & {"analytics", "ingest", "ops_console", "devices", "sklearn"})}))
"""
PLUGINS = {"analytics", "console", "contract", "ingest", "privacy", "simulate", "user"}


def registered(*argv: str) -> dict[str, list[str]]:
    out = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True,
                         check=True, timeout=120)
    result: dict[str, list[str]] = json.loads(out.stdout)
    return result


def test_a_hub_command_loads_no_other_package() -> None:
    got = registered("device", "list")
    assert PLUGINS.isdisjoint(got["commands"])
    assert got["packages"] == []
    assert got["benches"] == []


def test_a_plugin_command_loads_only_its_own_package() -> None:
    got = registered("ingest", "--help")
    assert PLUGINS & set(got["commands"]) == {"ingest"}
    assert "analytics" not in got["packages"]
    assert registered("bench", "query")["benches"] == ["query"]


@pytest.mark.parametrize("argv", [["--help"], [], ["no-such-command"], ["bench"]])
def test_help_and_unknown_names_list_every_command(argv: list[str]) -> None:
    got = registered(*argv)
    assert set(got["commands"]) >= PLUGINS
    assert {"analytics", "chaos", "ingest", "query"} <= set(got["benches"])
