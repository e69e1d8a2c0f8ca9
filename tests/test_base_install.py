"""Every command works on a base install: ``pip install cityhub`` without extras.

``make test`` installs the ``test`` extra, so a command that imports a test-only package at
import time (httpx was one) passes the suite and fails on a fresh clone's ``make run``. These
tests give a child Python only what a base install holds (tests/base_install_probe.py blocks the
rest) and ask ``cityhub --help`` and every command's and subcommand's ``--help`` there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution, entry_points, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.base_install_probe import BaseOnly
from tests.helpers import child_env

PROBE = Path(__file__).with_name("base_install_probe.py")
PROBE_TIMEOUT_S = 600  # a safety net for a hung child, not a measurement


def base_distributions(root: str = "cityhub") -> frozenset[str]:
    """*root* and every distribution its requirements pull in, recursively, with the extras a
    requirement names (``psycopg[binary,pool]``) but none of *root*'s own extras."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            pytest.fail(f"{name} is a base dependency of {root} but is not installed.")
        for line in requires:
            req = Requirement(line)
            if req.marker is None or any(
                    req.marker.evaluate({"extra": extra}) for extra in extras | {""}):
                todo.append((req.name, frozenset(req.extras)))
    return frozenset(name for name, _ in seen)


def own_packages() -> frozenset[str]:
    """cityhub's top-level packages (hub, ingest, …)."""
    owners = packages_distributions()
    names = {module for module, dists in owners.items() if "cityhub" in dists}
    # An editable install does not list its packages in RECORD; top_level.txt names them.
    names.update((distribution("cityhub").read_text("top_level.txt") or "").split())
    return frozenset(names)


def base_modules() -> frozenset[str]:
    """Top-level import names that cityhub and its base dependency closure provide."""
    dists = base_distributions()
    modules = {module for module, owners in packages_distributions().items()
               if any(canonicalize_name(owner) in dists for owner in owners)}
    return frozenset(modules | own_packages())


def test_the_base_closure_leaves_out_the_test_extra() -> None:
    dists = base_distributions()
    assert {"cityhub", "typer", "psycopg", "psycopg-binary"} <= dists  # psycopg[binary] counts
    assert "pytest" not in dists


def test_the_blocker_refuses_modules_outside_the_base_install() -> None:
    blocker = BaseOnly(frozenset({"typer"}))
    assert blocker.find_spec("typer.main", None) is None
    assert blocker.find_spec("json", None) is None  # the standard library
    with pytest.raises(ModuleNotFoundError, match="base dependencies"):
        blocker.find_spec("httpx", None)


def test_every_command_and_module_loads_on_a_base_install(tmp_path: Path) -> None:
    allowed, report_file = tmp_path / "allowed.json", tmp_path / "report.json"
    allowed.write_text(json.dumps({"allowed": sorted(base_modules()), "own": sorted(own_packages())}),
                       encoding="utf-8")
    env = child_env()
    run = f"import runpy; runpy.run_path({str(PROBE)!r}, run_name='__main__')"
    child = subprocess.run([sys.executable, "-I", "-c", run, str(allowed), str(report_file)],
                           capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=PROBE_TIMEOUT_S, check=False)
    assert child.returncode == 0, child.stderr
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report["failures"] == {}, "\n\n".join(f"{k}:\n{v}" for k, v in report["failures"].items())
    paths = {tuple(p) for p in report["paths"]}
    # The walk reached every plugin command, and the subcommands of groups (bench …).
    plugins = {(ep.name,) for ep in entry_points(group="cityhub.commands")}
    benches = {("bench", ep.name) for ep in entry_points(group="cityhub.bench")}
    assert {(), ("migrate",), *plugins, *benches} <= paths
