"""`cityhub device …`: provision devices and see their state (docs/devices.md)."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hub.catalogue import Catalogue, load_catalogue
from hub.cli.broker import sync_broker
from hub.cli.common import console, database_url, errors, print_json, settings, token_keys
from hub.cli.welfare import app as welfare_app
from hub.db import connection
from hub.device_import import ImportPlan, parse_csv, plan_import
from hub.device_status import DeviceState
from hub.domain import Device
from hub.errors import InvalidInput
from hub.registry import (
    NewDevice,
    add_device,
    add_many,
    device_state,
    device_states,
    existing_ids,
    revoke_device,
    rotate_token,
)
from hub.settings import Settings
from hub.zones import list_zones, remove_zone, set_zone

app = typer.Typer(no_args_is_help=True, help="Provision devices and see their state.")
app.add_typer(welfare_app, name="welfare")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def device_json(device: Device) -> dict[str, object]:
    return {
        "device_id": device.id, "kind": device.kind, "zone": device.zone,
        "lat": device.lat, "lon": device.lon, "gateway_id": device.gateway_id,
        "status": device.status, "online": device.online,
        "created_at": device.created_at.isoformat(),
        "revoked_at": device.revoked_at.isoformat() if device.revoked_at else None,
        "last_seen": device.last_seen.isoformat() if device.last_seen else None,
    }


def state_json(state: DeviceState) -> dict[str, object]:
    return {**device_json(state.device), "connection": state.connection,
            "interval_s": state.interval_s}


def _credentials_json(created: NewDevice) -> dict[str, object]:
    device = created.device
    return {**device_json(device), "token": created.token, "mqtt_username": device.id,
            "topic_prefix": f"cityhub/v1/{device.id}/"}


def _print_credentials(created: NewDevice, what: str) -> None:
    device = created.device
    console.print(f"{what} {device.kind} device [bold]{device.id}[/bold]")
    console.print(f"  MQTT username: {device.id}")
    console.print(f"  MQTT password (token, shown once): [bold]{created.token}[/bold]")
    console.print(f"  publish to:    cityhub/v1/{device.id}/telemetry")


def _note(note: str | None) -> None:
    if note:
        errors.print(note)


@app.command("add")
def add(
    kind: Annotated[str, typer.Option("--kind", help="Device kind from the catalogue.")],
    device_id: Annotated[str, typer.Option("--id", help="Device id, also its MQTT username.")],
    zone: Annotated[str | None, typer.Option(help="City zone, e.g. a district.")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude in degrees.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude in degrees.")] = None,
    gateway: Annotated[str | None, typer.Option(help="Gateway that publishes for it.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a device and print its credentials (the token is shown only once)."""
    current = settings()
    catalogue = load_catalogue(current.kinds_file)
    with connection(database_url(current)) as conn:
        created = add_device(conn, catalogue, device_id, kind, zone=zone, lat=lat, lon=lon,
                             gateway_id=gateway, keys=token_keys(current))
        note = sync_broker(conn, current)
    if as_json:
        print_json(_credentials_json(created))
    else:
        _print_credentials(created, "registered")
    _note(note)


@app.command("rotate")
def rotate(
    device_id: Annotated[str, typer.Argument(help="The device's id.")],
    as_json: JsonOption = False,
) -> None:
    """Give a device a new token (printed once); the old one stops working."""
    current = settings()
    with connection(database_url(current)) as conn:
        created = rotate_token(conn, device_id, token_keys(current))
        note = sync_broker(conn, current)
    if as_json:
        print_json(_credentials_json(created))
    else:
        _print_credentials(created, "new token for")
    _note(note)


@app.command("revoke")
def revoke(
    device_id: Annotated[str, typer.Argument(help="The device's id.")],
    as_json: JsonOption = False,
) -> None:
    """Shut a device out for good: its token stops working; its data stays."""
    current = settings()
    with connection(database_url(current)) as conn:
        device = revoke_device(conn, device_id)
        note = sync_broker(conn, current)
    if as_json:
        print_json(device_json(device))
    else:
        console.print(f"revoked device [bold]{device.id}[/bold]; its token no longer logs in")
    _note(note)


def _connection_label(state: DeviceState) -> str:
    colour = {"online": "green", "offline": "red", "never": "dim"}[state.connection]
    return f"[{colour}]{state.connection}[/{colour}]"


@app.command("show")
def show(
    device_id: Annotated[str, typer.Argument(help="The device's id.")],
    as_json: JsonOption = False,
) -> None:
    """One device: where it is, its state and when it was last heard from."""
    with connection(database_url(settings())) as conn:
        state = device_state(conn, device_id)
    if as_json:
        print_json(state_json(state))
        return
    d = state.device
    table = Table(show_header=False, box=None)
    rows = [
        ("id", d.id), ("kind", d.kind), ("zone", d.zone or "-"),
        ("position", f"{d.lat}, {d.lon}" if d.lat is not None else "-"),
        ("gateway", d.gateway_id or "-"), ("status", d.status),
        ("connection", _connection_label(state)),
        ("last seen", d.last_seen.isoformat(timespec="seconds") if d.last_seen else "never"),
        ("reports every", f"{state.interval_s} s (offline after {3 * state.interval_s} s silent)"),
        ("registered", d.created_at.isoformat(timespec="seconds")),
        ("revoked", d.revoked_at.isoformat(timespec="seconds") if d.revoked_at else "-"),
        ("MQTT username", d.id),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@app.command("list")
def list_command(
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    connection_state: Annotated[str | None, typer.Option(
        "--connection", help="Only devices that are online, offline or never seen.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List registered devices with their connection state."""
    if connection_state not in (None, "online", "offline", "never"):
        raise InvalidInput("--connection takes online, offline or never.")
    with connection(database_url(settings())) as conn:
        states = device_states(conn, kind=kind, zone=zone)
    if connection_state is not None:
        states = [s for s in states if s.connection == connection_state]
    if as_json:
        for state in states:
            print_json(state_json(state))
        return
    table = Table()
    # Ids are what operators copy into the next command: never wrap or cut them.
    table.add_column("id", no_wrap=True, min_width=12)
    for heading in ("kind", "zone", "status", "connection", "last seen"):
        table.add_column(heading)
    for s in states:
        d = s.device
        seen = d.last_seen.isoformat(timespec="seconds") if d.last_seen else "never"
        table.add_row(d.id, d.kind, d.zone or "", d.status, _connection_label(s), seen)
    console.print(table)
    console.print(f"{len(states)} device(s)")


def _open_tokens(path: Path) -> TextIO:
    if str(path) == "-":
        return sys.stdout
    try:
        # O_EXCL: never overwrite a file of earlier tokens (they are shown only once).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"{path} exists already; choose a new file for the tokens.") from None
    except OSError as exc:
        raise InvalidInput(f"Cannot create {path}: {exc.strerror}.") from None
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def _plan(path: Path, catalogue: Catalogue, url: str) -> ImportPlan:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text.") from None
    rows, bad = parse_csv(text, catalogue)
    named = {r.id for r in rows} | {r.gateway for r in rows if r.gateway}
    with connection(url) as conn:
        registered = existing_ids(conn, sorted(named))
    return plan_import(rows, bad, registered)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV with header id,kind,zone,lat,lon,gateway.")],
    tokens_out: Annotated[Path, typer.Option(
        help="New file for the tokens (CSV id,token, mode 0600; '-' prints them).")],
    skip_bad: Annotated[bool, typer.Option(
        help="Import the good rows even if some are bad (default: nothing is imported).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Register many devices from a CSV file; their tokens go to --tokens-out, once."""
    if as_json and str(tokens_out) == "-":
        raise InvalidInput("--json prints the summary on stdout; write the tokens to a file.")
    if str(tokens_out) != "-" and tokens_out.exists():
        raise InvalidInput(f"{tokens_out} exists already; choose a new file for the tokens.")
    current = settings()
    url = database_url(current)
    catalogue = load_catalogue(current.kinds_file)
    plan = _plan(file, catalogue, url)
    for problem in plan.errors:
        # file:line: message, as compilers write it, so editors can jump to the row.
        errors.print(f"{file}:{problem.line}: {problem.message}", markup=False, highlight=False,
                     soft_wrap=True)
    if plan.errors and not skip_bad:
        raise InvalidInput(
            f"{len(plan.errors)} bad row(s) in {file}; nothing was imported. Fix them, or "
            "pass --skip-bad to import the other rows."
        )
    created: list[NewDevice] = []
    note = None
    if plan.create:
        created, note = _create(plan, catalogue, tokens_out, current)
    summary = {"created": len(created), "present": [r.id for r in plan.present],
               "errors": [{"line": e.line, "device_id": e.device_id, "message": e.message}
                          for e in plan.errors],
               "tokens_out": str(tokens_out) if created else None}
    if as_json:
        print_json(summary)
    else:
        out = errors if str(tokens_out) == "-" else console
        out.print(f"imported {len(created)} device(s); {len(plan.present)} registered already "
                  f"(skipped); {len(plan.errors)} bad row(s) skipped"
                  + (f"; tokens in {tokens_out}" if created and str(tokens_out) != "-" else ""))
    _note(note)


def _create(plan: ImportPlan, catalogue: Catalogue, tokens_out: Path,
            current: Settings) -> tuple[list[NewDevice], str | None]:
    keys = token_keys(current)
    handle = _open_tokens(tokens_out)
    to_file = handle is not sys.stdout
    writer = csv.writer(handle)
    writer.writerow(["id", "token"])
    with connection(database_url(current)) as conn:
        try:
            with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn(), console=errors) as progress:
                task = progress.add_task("import", total=len(plan.create))

                def step(new: NewDevice) -> None:
                    writer.writerow([new.device.id, new.token])
                    progress.advance(task)

                with conn.transaction():
                    created = add_many(conn, catalogue, [r.values() for r in plan.create],
                                       progress=step, keys=keys)
                    # On disk before the commit: no device exists whose token is lost.
                    handle.flush()
                    if to_file:
                        os.fsync(handle.fileno())
        except BaseException:
            if to_file:
                handle.close()
                tokens_out.unlink(missing_ok=True)  # tokens of devices that were not created
            raise
        if to_file:
            handle.close()
        note = sync_broker(conn, current)
    return created, note


zones_app = typer.Typer(no_args_is_help=True, help="Zone areas: the ground a zone's cameras watch "
                        "(crowd density = persons / area).")
app.add_typer(zones_app, name="zone")


@zones_app.command("set")
def zone_set(
    zone: Annotated[str, typer.Argument(help="The zone, as devices are registered in it, e.g. jung-gu.")],
    area_m2: Annotated[float, typer.Option("--area-m2", help="Area its cameras watch, in m².")],
    name_ko: Annotated[str | None, typer.Option(help="Korean name, e.g. 서울역 광장.")] = None,
    name_en: Annotated[str | None, typer.Option(help="English name.")] = None,
) -> None:
    """Set a zone's area (used by the crowd-density rules)."""
    with connection(database_url(settings())) as conn:
        z = set_zone(conn, zone, area_m2, name_ko=name_ko, name_en=name_en)
    console.print(f"zone {z.zone}: {z.area_m2:g} m²")


@zones_app.command("list")
def zone_list(as_json: JsonOption = False) -> None:
    """List the zones with an area."""
    with connection(database_url(settings())) as conn:
        zones = list_zones(conn)
    if as_json:
        for z in zones:
            print_json({"zone": z.zone, "area_m2": z.area_m2, "name_ko": z.name_ko, "name_en": z.name_en})
        return
    table = Table()
    for heading in ("zone", "area m²", "name (ko)", "name (en)"):
        table.add_column(heading)
    for z in zones:
        table.add_row(z.zone, f"{z.area_m2:g}", z.name_ko or "", z.name_en or "")
    console.print(table)


@zones_app.command("remove")
def zone_remove(zone: Annotated[str, typer.Argument(help="The zone.")]) -> None:
    """Remove a zone's area (its crowd-density rules go silent)."""
    with connection(database_url(settings())) as conn:
        remove_zone(conn, zone)
    console.print(f"zone {zone}: area removed")
