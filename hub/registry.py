"""The device registry: provisioning and look-ups."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from hub.catalogue import Catalogue
from hub.credentials import broker_hash, new_token
from hub.device_status import DEVICE_COLUMNS, STATE_SELECT, DeviceState, state_from_row
from hub.device_tokens import TokenKeys, hash_new
from hub.domain import Device
from hub.errors import AlreadyExists, InvalidInput, NotFound
from hub.mqtt_access import GATEWAY_KIND, INGEST_ACCOUNT, SIM_ACCOUNT

# Same rule as the CHECK constraint on hub.devices: a safe single MQTT topic level.
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, DEVICE_COLUMNS))
_INSERT = sql.SQL(
    "INSERT INTO hub.devices (id, kind, zone, lat, lon, gateway_id, token_hash, broker_hash) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {}"
).format(_COLUMNS)

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True, slots=True)
class NewDevice:
    device: Device
    token: str


# Topic levels and broker accounts that a device must not be able to claim.
RESERVED_IDS = frozenset({GATEWAY_KIND, INGEST_ACCOUNT, SIM_ACCOUNT})


def validate_device_id(device_id: str) -> str:
    if device_id.lower() in RESERVED_IDS:
        raise InvalidInput(f"Device id {device_id!r} is reserved; choose another.")
    if DEVICE_ID.fullmatch(device_id):
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


def check_position(lat: float | None, lon: float | None) -> None:
    if (lat is None) != (lon is None):
        raise InvalidInput("Give both lat and lon, or neither.")
    if lat is not None and not -90 <= lat <= 90:
        raise InvalidInput(f"Latitude {lat} is outside -90..90.")
    if lon is not None and not -180 <= lon <= 180:
        raise InvalidInput(f"Longitude {lon} is outside -180..180.")


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
    keys: TokenKeys | None = None,
) -> NewDevice:
    """Register a device with a new token; *keys* hash it (argon2 without: slow)."""
    validate_device_id(device_id)
    catalogue.kind(kind)
    check_position(lat, lon)
    if gateway_id is not None:
        gateway = get_device(conn, gateway_id)
        if gateway.kind != "gateway":
            raise InvalidInput(f"{gateway_id!r} is a {gateway.kind} device, not a gateway.")
    token = new_token()
    try:
        with conn.transaction():
            row = conn.execute(
                _INSERT,
                (device_id, kind, zone, lat, lon, gateway_id, hash_new(keys, token), broker_hash(token)),
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise _already_registered(conn, device_id, exc) from None
    except psycopg.errors.ForeignKeyViolation:
        raise InvalidInput(
            f"Kind {kind!r} is not in the database yet; run `cityhub migrate` first."
        ) from None
    assert row is not None
    return NewDevice(_device(row), token)


# The unique index of migration 0008: ids that differ only in letter case.
_CASE_INDEX = "devices_id_lower"


def case_twin_message(device_id: str, registered: str) -> str:
    return (
        f"Device id {device_id!r} differs only in letter case from the registered device "
        f"{registered!r}. Device ids are MQTT usernames and topic names, which are case-sensitive, "
        "so two such ids would be two logins and topics nobody can tell apart; choose another id."
    )


def _already_registered(conn: Conn, device_id: str, exc: psycopg.errors.UniqueViolation) -> AlreadyExists:
    if exc.diag.constraint_name != _CASE_INDEX:
        return AlreadyExists(f"A device with id {device_id!r} is registered already.")
    # The failed INSERT ran in its own savepoint, so the transaction can still read.
    row = conn.execute(
        "SELECT id FROM hub.devices WHERE lower(id) = lower(%s) AND id <> %s", (device_id, device_id)
    ).fetchone()
    registered = str(row[0]) if row is not None else device_id.lower()
    return AlreadyExists(case_twin_message(device_id, registered))


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


def revoke_device(conn: Conn, device_id: str) -> Device:
    """Shut a device out: it can no longer log in, and leaves the broker's password file."""
    with conn.transaction():
        row = conn.execute(
            sql.SQL(
                "UPDATE hub.devices SET status = 'revoked', revoked_at = now(), broker_hash = NULL "
                "WHERE id = %s AND status = 'active' RETURNING {}"
            ).format(_COLUMNS),
            (device_id,),
        ).fetchone()
    if row is None:
        device = get_device(conn, device_id)  # NotFound when there is none
        raise InvalidInput(f"Device {device.id!r} is revoked already.")
    return _device(row)


def rotate_token(conn: Conn, device_id: str, keys: TokenKeys | None = None) -> NewDevice:
    """Give a device a new token; the old one stops working."""
    token = new_token()
    with conn.transaction():
        row = conn.execute(
            sql.SQL(
                "UPDATE hub.devices SET token_hash = %s, broker_hash = %s "
                "WHERE id = %s AND status = 'active' RETURNING {}"
            ).format(_COLUMNS),
            (hash_new(keys, token), broker_hash(token), device_id),
        ).fetchone()
    if row is None:
        device = get_device(conn, device_id)
        raise InvalidInput(f"Device {device.id!r} is revoked; register a new device instead.")
    return NewDevice(_device(row), token)


def existing_ids(conn: Conn, ids: Sequence[str]) -> dict[str, str]:
    """The registered devices whose ids equal one of *ids* but for letter case, with their
    kinds: the ids as registered, so a caller tells an exact match from a case twin."""
    rows = conn.execute(
        "SELECT id, kind FROM hub.devices WHERE lower(id) = ANY(%s)", ([i.lower() for i in ids],)
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


_BATCH = 1000  # rows per pipelined executemany: one round trip for many, progress in between

ManyRow = tuple[str, str, str | None, float | None, float | None, str | None]


def _check_many(conn: Conn, catalogue: Catalogue, devices: Sequence[ManyRow]) -> None:
    """add_device's checks for a whole batch, with one query for the gateways outside it."""
    batch_kinds: dict[str, str] = {}
    for device_id, kind, _zone, lat, lon, _gateway in devices:
        validate_device_id(device_id)
        catalogue.kind(kind)
        check_position(lat, lon)
        batch_kinds.setdefault(device_id, kind)
    outside = sorted({g for *_, g in devices if g is not None and g not in batch_kinds})
    rows = conn.execute("SELECT id, kind FROM hub.devices WHERE id = ANY(%s)", (outside,)).fetchall()
    kinds = {**{str(r[0]): str(r[1]) for r in rows}, **batch_kinds}
    for *_, gateway_id in devices:
        if gateway_id is None:
            continue
        if gateway_id not in kinds:
            raise NotFound(f"No device with id {gateway_id!r} is registered.")
        if kinds[gateway_id] != GATEWAY_KIND:
            raise InvalidInput(f"{gateway_id!r} is a {kinds[gateway_id]} device, not a gateway.")


def add_many(
    conn: Conn,
    catalogue: Catalogue,
    devices: Sequence[ManyRow],
    *,
    progress: Callable[[NewDevice], None] | None = None,
    keys: TokenKeys | None = None,
) -> list[NewDevice]:
    """Register (id, kind, zone, lat, lon, gateway) rows in one transaction: all or none.

    A gateway is registered already or a row before the devices behind it. The rows go in
    pipelined batches: one round trip per batch, not three per device (a savepoint each,
    as add_device takes), which made the round trips, after argon2, the cost of an import.
    """
    _check_many(conn, catalogue, devices)
    created: list[NewDevice] = []
    try:
        with conn.transaction(), conn.cursor() as cur:
            for start in range(0, len(devices), _BATCH):
                chunk = devices[start:start + _BATCH]
                tokens = [new_token() for _ in chunk]
                cur.executemany(_INSERT, [(*row, hash_new(keys, token), broker_hash(token))
                                          for row, token in zip(chunk, tokens, strict=True)],
                                returning=True)
                for token in tokens:
                    row = cur.fetchone()
                    assert row is not None
                    new = NewDevice(_device(row), token)
                    created.append(new)
                    if progress is not None:
                        progress(new)
                    cur.nextset()
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyExists(f"A device of this import is registered already ({exc.diag.message_detail}); "
                            "nothing was imported.") from None
    return created


_STATE_QUERY = sql.SQL(
    "{} WHERE (%(id)s::text IS NULL OR d.id = %(id)s) "
    "AND (%(kind)s::text IS NULL OR d.kind = %(kind)s) "
    "AND (%(zone)s::text IS NULL OR d.zone = %(zone)s) "
    "AND (%(status)s::text IS NULL OR d.status = %(status)s) ORDER BY d.id"
).format(STATE_SELECT)


def device_states(
    conn: Conn,
    *,
    device_id: str | None = None,
    kind: str | None = None,
    zone: str | None = None,
    status: str | None = None,
    now: datetime | None = None,
) -> list[DeviceState]:
    """Devices with their connection state (online, offline, never) as of *now*."""
    rows = conn.execute(
        _STATE_QUERY, {"id": device_id, "kind": kind, "zone": zone, "status": status}
    ).fetchall()
    at = now or datetime.now(UTC)
    return [state_from_row(row, at) for row in rows]


def device_state(conn: Conn, device_id: str, *, now: datetime | None = None) -> DeviceState:
    found = device_states(conn, device_id=device_id, now=now)
    if not found:
        raise NotFound(f"No device with id {device_id!r} is registered.")
    return found[0]


def add_missing(
    conn: Conn,
    catalogue: Catalogue,
    rows: Sequence[tuple[str, str, str | None, float | None, float | None]],
    *,
    progress: Callable[[int], None] | None = None,
    keys: TokenKeys | None = None,
) -> int:
    """Register the (id, kind, zone, lat, lon) rows not registered yet; return how many.

    The tokens are not returned: for fleets whose devices publish under another account
    (the demo, the simulator). Without *keys* each registration hashes its token with
    argon2 (about 0.1 s).
    """
    known = existing_ids(conn, [row[0] for row in rows])
    added = 0
    for device_id, kind, zone, lat, lon in rows:
        if device_id in known:
            continue
        try:
            add_device(conn, catalogue, device_id, kind, zone=zone, lat=lat, lon=lon, keys=keys)
        except AlreadyExists:
            continue  # registered meanwhile by someone else
        added += 1
        if progress is not None:
            progress(added)
    return added
