"""The device registry: provisioning and look-ups."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

from hub.catalogue import Catalogue
from hub.credentials import hash_token, new_token
from hub.domain import Device
from hub.errors import AlreadyExists, InvalidInput, NotFound

# Same rule as the CHECK constraint on hub.devices: a safe single MQTT topic level.
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_COLUMNS = sql.SQL(
    "id, kind, zone, lat, lon, gateway_id, status, online, created_at, revoked_at, last_seen"
)

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class NewDevice:
    device: Device
    token: str


# Topic levels and broker accounts that a device must not be able to claim.
RESERVED_IDS = frozenset({"gateway", "cityhub-ingest"})


def validate_device_id(device_id: str) -> str:
    if device_id.lower() in RESERVED_IDS:
        raise InvalidInput(f"Device id {device_id!r} is reserved; choose another.")
    if _DEVICE_ID.fullmatch(device_id):
        return device_id
    if not device_id:
        raise InvalidInput("A device id must not be empty.")
    if any(ch in device_id for ch in "+#/"):
        raise InvalidInput(
            f"Device id {device_id!r} contains '+', '#' or '/', which are MQTT topic "
            "wildcards or separators; use letters, digits, '.', '_', ':' or '-'."
        )
    if any(ch.isspace() or not ch.isprintable() for ch in device_id):
        raise InvalidInput(f"Device id {device_id!r} contains whitespace or control characters.")
    raise InvalidInput(
        f"Device id {device_id!r} is not allowed: start with a letter or digit, then use up to "
        "127 letters, digits, '.', '_', ':' or '-'."
    )


def _device(row: tuple[object, ...]) -> Device:
    return Device(*row)  # type: ignore[arg-type]


def add_device(
    conn: Conn,
    catalogue: Catalogue,
    device_id: str,
    kind: str,
    *,
    zone: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    gateway_id: str | None = None,
) -> NewDevice:
    validate_device_id(device_id)
    catalogue.kind(kind)
    if (lat is None) != (lon is None):
        raise InvalidInput("Give both --lat and --lon, or neither.")
    if lat is not None and not -90 <= lat <= 90:
        raise InvalidInput(f"Latitude {lat} is outside -90..90.")
    if lon is not None and not -180 <= lon <= 180:
        raise InvalidInput(f"Longitude {lon} is outside -180..180.")
    if gateway_id is not None:
        gateway = get_device(conn, gateway_id)
        if gateway.kind != "gateway":
            raise InvalidInput(f"{gateway_id!r} is a {gateway.kind} device, not a gateway.")
    token = new_token()
    try:
        with conn.transaction():
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO hub.devices (id, kind, zone, lat, lon, gateway_id, token_hash) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {}"
                ).format(_COLUMNS),
                (device_id, kind, zone, lat, lon, gateway_id, hash_token(token)),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise AlreadyExists(f"A device with id {device_id!r} is registered already.") from None
    except psycopg.errors.ForeignKeyViolation:
        raise InvalidInput(
            f"Kind {kind!r} is not in the database yet; run `cityhub migrate` first."
        ) from None
    assert row is not None
    return NewDevice(_device(row), token)


def get_device(conn: Conn, device_id: str) -> Device:
    row = conn.execute(
        sql.SQL("SELECT {} FROM hub.devices WHERE id = %s").format(_COLUMNS), (device_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"No device with id {device_id!r} is registered.")
    return _device(row)


def list_devices(
    conn: Conn, *, kind: str | None = None, zone: str | None = None, status: str | None = None
) -> list[Device]:
    rows = conn.execute(
        sql.SQL(
            "SELECT {} FROM hub.devices WHERE (%(kind)s::text IS NULL OR kind = %(kind)s) "
            "AND (%(zone)s::text IS NULL OR zone = %(zone)s) "
            "AND (%(status)s::text IS NULL OR status = %(status)s) ORDER BY id"
        ).format(_COLUMNS),
        {"kind": kind, "zone": zone, "status": status},
    ).fetchall()
    return [_device(r) for r in rows]
