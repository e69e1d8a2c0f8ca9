"""`cityhub device …`: register and list devices."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub.catalogue import load_catalogue
from hub.cli.common import console, database_url, print_json, settings
from hub.db import connection
from hub.domain import Device
from hub.registry import add_device, list_devices

app = typer.Typer(no_args_is_help=True, help="Register and list devices.")


def device_json(device: Device) -> dict[str, object]:
    return {
        "device_id": device.id, "kind": device.kind, "zone": device.zone,
        "lat": device.lat, "lon": device.lon, "gateway_id": device.gateway_id,
        "status": device.status, "online": device.online,
        "created_at": device.created_at.isoformat(),
        "revoked_at": device.revoked_at.isoformat() if device.revoked_at else None,
        "last_seen": device.last_seen.isoformat() if device.last_seen else None,
    }


@app.command("add")
def add(
    kind: Annotated[str, typer.Option("--kind", help="Device kind from the catalogue.")],
    device_id: Annotated[str, typer.Option("--id", help="Device id, also its MQTT username.")],
    zone: Annotated[str | None, typer.Option(help="City zone, e.g. a district.")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude in degrees.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude in degrees.")] = None,
    gateway: Annotated[str | None, typer.Option(help="Gateway that publishes for it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Register a device and print its credentials (the token is shown only once)."""
    current = settings()
    catalogue = load_catalogue(current.kinds_file)
    with connection(database_url(current)) as conn:
        created = add_device(
            conn, catalogue, device_id, kind, zone=zone, lat=lat, lon=lon, gateway_id=gateway
        )
    device = created.device
    if as_json:
        print_json({**device_json(device), "token": created.token, "mqtt_username": device.id,
                    "topic_prefix": f"cityhub/v1/{device.id}/"})
        return
    console.print(f"registered {device.kind} device [bold]{device.id}[/bold]")
    console.print(f"  MQTT username: {device.id}")
    console.print(f"  MQTT password (token, shown once): [bold]{created.token}[/bold]")
    console.print(f"  publish to:    cityhub/v1/{device.id}/telemetry")


@app.command("list")
def list_command(
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List registered devices."""
    with connection(database_url(settings())) as conn:
        devices = list_devices(conn, kind=kind, zone=zone)
    if as_json:
        for device in devices:
            print_json(device_json(device))
        return
    table = Table("id", "kind", "zone", "status", "online", "last seen")
    for d in devices:
        online = "-" if d.online is None else ("yes" if d.online else "no")
        seen = d.last_seen.isoformat(timespec="seconds") if d.last_seen else "never"
        table.add_row(d.id, d.kind, d.zone or "", d.status, online, seen)
    console.print(table)
    console.print(f"{len(devices)} device(s)")
