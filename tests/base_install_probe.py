"""Run by tests/test_base_install.py in a child Python, never imported by pytest itself.

It stands in for a fresh ``pip install cityhub`` (no extras): a finder placed first on
``sys.meta_path`` refuses every top-level module that neither the standard library, cityhub
itself nor its base dependency closure provides, exactly as an absent package would
(``ModuleNotFoundError``). Then it loads every command as ``cityhub`` does, walks the click tree
and asks each command and group for ``--help`` through ``hub.cli.main.main``. Last it imports
every module of cityhub's packages, so that a server's run-time import (the console's webhook
client) cannot hide behind a command that imports it only when it starts.

    python -I -c "import runpy; runpy.run_path('tests/base_install_probe.py', run_name='__main__')" \
        allowed.json report.json

*allowed.json* is ``{"allowed": [top-level names], "own": [cityhub's packages]}``; the report is
``{"paths": [[…], …], "failures": {"cityhub x y" or "import m": "what went wrong"}}``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import pkgutil
import sys
import traceback
from collections.abc import Iterator, Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType


class BaseOnly(MetaPathFinder):
    """Refuses top-level modules outside *allowed* and the standard library."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        top = fullname.partition(".")[0]
        # sysconfig's per-platform data module is stdlib but not in stdlib_module_names.
        if top in self.allowed or top in sys.stdlib_module_names or top.startswith("_sysconfigdata"):
            return None  # let the ordinary finders look for it
        raise ModuleNotFoundError(
            f"No module named {fullname!r} (not provided by cityhub's base dependencies)",
            name=fullname)


def _walk(command: object, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    yield path
    # A group's subcommands by name; typer's groups are not click.Group (it vendors click).
    subcommands = getattr(command, "commands", None)
    if isinstance(subcommands, dict):
        for name, sub in sorted(subcommands.items()):
            yield from _walk(sub, (*path, str(name)))


def _help(path: tuple[str, ...]) -> str | None:
    """None when ``cityhub <path> --help`` printed its usage and exited 0, else what went wrong."""
    from hub.cli import main as cli

    sys.argv = ["cityhub", *path, "--help"]
    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
    except SystemExit as exc:
        code = exc.code
    except Exception:
        return traceback.format_exc()
    if code not in (0, None) or "Usage" not in out.getvalue():
        return f"exit code {code!r}\n{out.getvalue()}{err.getvalue()}"
    if "(unavailable: needs" in out.getvalue():  # hub.cli.main.missing_package stood in
        return out.getvalue()
    return None


def _imports(packages: Sequence[str]) -> dict[str, str]:
    """What went wrong importing each module of *packages* (``__main__`` modules run, so not them)."""
    failures: dict[str, str] = {}
    for package in packages:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if info.name.rpartition(".")[2] == "__main__":
                continue
            try:
                importlib.import_module(info.name)
            except Exception:
                failures[f"import {info.name}"] = traceback.format_exc()
    return failures


def probe(allowed: frozenset[str], own: Sequence[str]) -> dict[str, object]:
    sys.meta_path.insert(0, BaseOnly(allowed))
    try:
        import typer

        from hub.cli import main as cli

        cli._plugins()  # loads every entry point, as each `cityhub` command does
        root = typer.main.get_command(cli.app)
    except Exception:
        return {"paths": [], "failures": {"cityhub": traceback.format_exc()}}
    paths = list(_walk(root, ()))
    failures = {" ".join(("cityhub", *p)): f for p in paths if (f := _help(p)) is not None}
    failures.update(_imports(own))
    return {"paths": [list(p) for p in paths], "failures": failures}


if __name__ == "__main__":
    allowed_file, report_file = sys.argv[1:3]
    given = json.loads(Path(allowed_file).read_text(encoding="utf-8"))
    report = probe(frozenset(given["allowed"]), given["own"])
    Path(report_file).write_text(json.dumps(report), encoding="utf-8")
