"""The bench's devices: made up, registered in bulk, and the readings they will carry."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from hub.credentials import hash_password, new_token
from hub.db import connection, table


@dataclass(frozen=True, slots=True)
class Fleet:
    tag: str  # prefix of every id, so that one run's rows can be told apart
    devices: tuple[str, ...]  # the air-quality devices whose readings are stored
    # (gateway id, devices behind it); empty when devices publish for themselves.
    gateways: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def reading_devices(self) -> str:
        """LIKE pattern of the ids that carry readings."""
        return f"{self.tag}-aq-%"


def make_fleet(tag: str, devices: int, gateway_batch: int = 0) -> Fleet:
    """*devices* air-quality devices; with *gateway_batch*, behind gateways of that many each."""
    ids = tuple(f"{tag}-aq-{i:06d}" for i in range(devices))
    if not gateway_batch:
        return Fleet(tag, ids)
    gateways = tuple(
        (f"{tag}-gw-{g:05d}", ids[g * gateway_batch:(g + 1) * gateway_batch])
        for g in range(devices // gateway_batch)
    )
    return Fleet(tag, ids, gateways)


def register(url: str, fleet: Fleet) -> None:
    """COPY the fleet into the registry. Every device shares one token hash: argon2 is slow
    on purpose (tens of ms), which would make 10,000 registrations take minutes."""
    token_hash = hash_password(new_token())
    columns = sql.SQL("COPY {} (id, kind, zone, gateway_id, token_hash) FROM STDIN").format(
        table("devices")
    )
    with connection(url, application_name="cityhub-bench") as conn, conn.cursor() as cur, \
            cur.copy(columns) as copy:
        for gateway, _children in fleet.gateways:
            copy.write_row((gateway, "gateway", "bench", None, token_hash))
        for gateway, children in fleet.gateways:
            for device in children:
                copy.write_row((device, "air_quality", "bench", gateway, token_hash))
        if not fleet.gateways:
            for device in fleet.devices:
                copy.write_row((device, "air_quality", "bench", None, token_hash))
