"""The ``cityhub`` entry point."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import typer

from hub.cli import audit, broker, datasets, devices, keys
from hub.cli.common import errors
from hub.cli.migrate import migrate_command
from hub.cli.telemetry import telemetry_command
from hub.cli.up import up_command
from hub.errors import ConfigError, HubError
from hub.logs import configure_logging
from hub.settings import load_settings

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="cityhub: the smart city's IoT data hub and operations centre.",
)
app.command("migrate")(migrate_command)
app.command("telemetry")(telemetry_command)
app.command("up")(up_command)
app.add_typer(devices.app, name="device")
app.add_typer(keys.app, name="keys")
app.add_typer(broker.app, name="broker")
app.add_typer(audit.app, name="audit")
app.add_typer(datasets.app, name="datasets")
app.command("export")(datasets.export_command)
bench = typer.Typer(no_args_is_help=True, help="Measure speed; figures go to docs/benchmarks.md.")
app.add_typer(bench, name="bench")


def missing_package(title: str, exc: ModuleNotFoundError) -> Callable[[], None]:
    """A stand-in for a command whose module needs a package that is not installed: every
    other command still runs, and this one says what is missing when it is invoked.
    (tests/test_base_install.py keeps every real command off this path on a base install.)"""
    package = (exc.name or "?").partition(".")[0]

    def unavailable() -> None:
        errors.print(f"[red]error:[/red] `{title}` needs the Python package {package!r}, which is "
                     f"not installed: pip install -c constraints.txt {package}")
        raise typer.Exit(1)

    unavailable.__doc__ = f"(unavailable: needs the Python package {package!r})"
    return unavailable


def _load(ep: EntryPoint, title: str) -> Any:
    try:
        return ep.load()
    except ModuleNotFoundError as exc:
        return missing_package(title, exc)


_COMMANDS, _BENCHES = "cityhub.commands", "cityhub.bench"
_registered: set[tuple[str, str]] = set()  # (group, name): registering twice would list it twice


def _register(ep: EntryPoint) -> None:
    if (ep.group, ep.name) in _registered:
        return
    _registered.add((ep.group, ep.name))
    if ep.group == _BENCHES:
        bench.command(ep.name)(_load(ep, f"cityhub bench {ep.name}"))
        return
    command = _load(ep, f"cityhub {ep.name}")
    if isinstance(command, typer.Typer):
        app.add_typer(command, name=ep.name)
    else:
        app.command(ep.name)(command)


def _plugins(argv: Sequence[str] | None = None) -> None:
    """Register the other packages' commands (so hub never imports them): only the one
    *argv* names when it names one, since importing them all takes seconds (pandas,
    scikit-learn); all of them for help, completion, or a name nobody knows."""
    commands = {ep.name: ep for ep in entry_points(group=_COMMANDS)}
    benches = {ep.name: ep for ep in entry_points(group=_BENCHES)}
    first, second = [*(argv or ()), None, None][:2]
    if first in commands:
        _register(commands[first])
        return
    if first == "bench" and second in benches:
        _register(benches[second])
        return
    own = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    if first is not None and first != "bench" and first in own:
        return
    for ep in (*commands.values(), *benches.values()):
        _register(ep)


def main() -> None:
    try:
        current = load_settings()
        configure_logging(current.log_level, current.log_format)
    except ConfigError:
        configure_logging("INFO", "text")  # the command itself reports the bad setting
    _plugins(sys.argv[1:])
    try:
        app()
    except HubError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
