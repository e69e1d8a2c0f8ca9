"""`cityhub analytics rules …`: list, show, add, edit, enable, disable and backtest rules.

Rules are read from and written to the hub (analytics/store.py); ``add`` and ``edit`` take a
YAML or JSON file with one rule document (docs/analytics.md). A refused rule exits 1 with the
field and the reason, e.g. ``levels.0.severity: must be one of info, warning, critical``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import psycopg
import typer
import yaml
from rich.table import Table

from analytics import backtest, store
from analytics.crowd_store import zone_areas
from analytics.engine import VersionedRule
from analytics.spec import RuleError, RuleSpec, parse, to_document
from hub.catalogue import load_catalogue
from hub.cli.common import console, database_url, print_json, settings
from hub.errors import DatabaseUnavailable, InvalidInput
from hub.timeparse import BadTimestamp, parse_user_time

app = typer.Typer(help="Alert rules: list, show, add, edit, enable, disable, backtest.")
ACTOR = "cli"
T = TypeVar("T")
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]


def _run(work: Callable[[AsyncConn], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            conn = await psycopg.AsyncConnection.connect(database_url(settings()), connect_timeout=5,
                                                         autocommit=True)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"Cannot reach the rules: {str(exc).strip().splitlines()[0]}") from exc
        async with conn:
            return await work(conn)

    return asyncio.run(main())


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror}.") from exc
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        form = "JSON" if path.suffix == ".json" else "YAML"
        raise InvalidInput(f"{path} is not valid {form}: {exc}") from exc
    if not isinstance(doc, dict):
        raise RuleError("rule", f"{path} must hold one rule document (an object)")
    return doc


def summary(spec: RuleSpec) -> str:
    """One line saying what a rule watches and when it raises."""
    if spec.kind == "event_map":
        return ", ".join(f"{t} → {a.severity}{' → ' + a.agency if a.agency else ''}"
                         for t, a in spec.events.items())
    if spec.kind == "absence":
        return f"silent for {spec.factor:g} × interval → {spec.levels[0].severity}"
    what = {"threshold": f"mean {spec.metric} over {spec.window_s:g} s per {spec.scope}",
            "rate_of_change": f"rise of {spec.metric} over {spec.window_s:g} s",
            "zone_composite": f"share of a zone's devices with {spec.metric} ≥ {spec.value:g}",
            "density": (f"rise over {spec.rise_s:g} s of " if spec.rise_s else "")
            + f"{spec.metric} per m² of the zone"}[spec.kind]
    levels = "; ".join(f"≥ {lv.above:g} for {lv.for_s:g} s → {lv.severity} (lifted < {lv.clear_below:g})"
                       for lv in spec.levels)
    return f"{what}: {levels}"


def _print_rules(rules: list[store.StoredRule], as_json: bool) -> None:
    if as_json:
        for r in rules:
            print_json({"id": r.spec.id, "version": r.version, "enabled": r.enabled, "builtin": r.builtin,
                        "rule": to_document(r.spec)})
        return
    table = Table("rule", "v", "enabled", "kind", "alert type", "what")
    for r in rules:
        table.add_row(r.spec.id, str(r.version), "yes" if r.enabled else "no", r.spec.kind,
                      r.spec.alert_type, summary(r.spec))
    console.print(table)


JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


@app.callback(invoke_without_command=True)
def rules_default(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Without a subcommand: list the rules (as `list`)."""
    if ctx.invoked_subcommand is None:
        _print_rules(_run(store.list_rules), as_json)


@app.command("list")
def list_command(
    as_json: JsonOption = False,
    enabled: Annotated[bool, typer.Option("--enabled", help="Only the enabled rules.")] = False,
) -> None:
    """List the rules with their current version."""
    _print_rules(_run(lambda conn: store.list_rules(conn, enabled_only=enabled)), as_json)


@app.command("show")
def show_command(rule: str, as_json: JsonOption = False) -> None:
    """One rule's document and its versions."""
    current, history = _run(lambda conn: _both(conn, rule))
    document = {"id": rule, "version": current.version, "enabled": current.enabled,
                "builtin": current.builtin, "rule": to_document(current.spec),
                "versions": [{"version": v.version, "enabled": v.enabled, "at": v.created_at.isoformat(),
                              "by": v.created_by, "note": v.note} for v in history]}
    if as_json:
        print_json(document)
        return
    console.print(f"[bold]{rule}[/bold] version {current.version}, "
                  f"{'enabled' if current.enabled else 'disabled'}: {summary(current.spec)}")
    console.print(yaml.safe_dump(to_document(current.spec), allow_unicode=True, sort_keys=False), end="")
    for v in history:
        console.print(f"  v{v.version}  {v.created_at:%Y-%m-%d %H:%M}Z  {v.created_by}  "
                      f"{'enabled' if v.enabled else 'disabled'}  {v.note or ''}")


async def _both(conn: AsyncConn, rule: str) -> tuple[store.StoredRule, list[store.RuleVersion]]:
    return await store.get_rule(conn, rule), await store.versions(conn, rule)


@app.command("add")
def add_command(
    file: Annotated[Path, typer.Argument(help="A YAML or JSON file with one rule.")],
    disabled: Annotated[bool, typer.Option("--disabled",
                                           help="Store it disabled (to backtest first).")] = False,
    note: Annotated[str | None, typer.Option(help="Why, kept with the version.")] = None,
) -> None:
    """Add a rule from a file."""
    doc = _read(file)
    r = _run(lambda conn: store.create(conn, doc, ACTOR, enabled=not disabled, note=note))
    console.print(f"added rule {r.spec.id} version {r.version} ({'enabled' if r.enabled else 'disabled'})")


@app.command("edit")
def edit_command(
    rule: str,
    file: Annotated[Path, typer.Argument(help="A YAML or JSON file with the rule's new document.")],
    note: Annotated[str | None, typer.Option(help="Why, kept with the version.")] = None,
) -> None:
    """Store a new version of a rule from a file."""
    doc = _read(file)
    r = _run(lambda conn: store.edit(conn, rule, doc, ACTOR, note=note))
    console.print(f"rule {r.spec.id} is now version {r.version}")


@app.command("disable")
def disable_command(rule: str) -> None:
    """Stop evaluating a rule (a new version, disabled)."""
    r = _run(lambda conn: store.set_enabled(conn, rule, False, ACTOR))
    console.print(f"rule {rule} disabled (version {r.version})")


@app.command("enable")
def enable_command(rule: str) -> None:
    """Evaluate a rule again (a new version, enabled)."""
    r = _run(lambda conn: store.set_enabled(conn, rule, True, ACTOR))
    console.print(f"rule {rule} enabled (version {r.version})")


@app.command("backtest")
def backtest_command(
    rule: str,
    start: Annotated[str, typer.Option("--from", help="ISO-8601; a bare time is UTC.")],
    end: Annotated[str, typer.Option("--to", help="ISO-8601; a bare time is UTC.")],
    file: Annotated[Path | None, typer.Option(help="Backtest this document instead of the stored "
                                                   "version (to tune before `edit`).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List what a rule would have raised over history (disabled rules too)."""
    try:
        since, until = parse_user_time(start), parse_user_time(end)
    except BadTimestamp as exc:
        raise InvalidInput(str(exc)) from exc
    if until <= since:
        raise InvalidInput("--to must be after --from.")
    intervals = {n: float(k.interval_s) for n, k in load_catalogue(settings().kinds_file).kinds.items()}
    doc = _read(file) if file is not None else None

    async def work(conn: AsyncConn) -> list[backtest.Episode]:
        stored = await store.get_rule(conn, rule)
        spec = stored.spec
        if doc is not None:
            spec = parse(doc, rule_id=rule)
            await store.check_against_hub(conn, spec)
        versioned = VersionedRule(spec, stored.version)
        frame = await backtest.history(conn, versioned, since, until, intervals)
        return backtest.run(versioned, frame, intervals, start=since, end=until,
                            areas=await zone_areas(conn))

    found = _run(work)
    if as_json:
        for e in found:
            print_json({"rule_id": e.rule_id, "device_id": e.device_id, "zone": e.zone,
                        "severity": e.severity, "first_seen": e.first_seen.isoformat(),
                        "last_seen": e.last_seen.isoformat(),
                        "count": e.count, "value": e.value,
                        "lifted_at": e.lifted_at.isoformat() if e.lifted_at else None})
        return
    table = Table("first seen", "device", "zone", "severity", "count", "last value", "lifted")
    for e in found:
        table.add_row(f"{e.first_seen:%Y-%m-%d %H:%M:%S}Z", e.device_id, e.zone or "", e.severity,
                      str(e.count), "" if e.value is None else f"{e.value:g}",
                      f"{e.lifted_at:%Y-%m-%d %H:%M:%S}Z" if e.lifted_at else "still raised")
    console.print(table)
    console.print(f"{len(found)} alert(s) from {since.isoformat()} to {until.isoformat()}")
