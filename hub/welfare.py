"""The welfare-check register (``hub.welfare_consents``, migration 0019).

A household's smart meter is watched for "no change in consumption for a day" only when its
occupant is registered as vulnerable and consent is recorded: when, by whom (the resident,
a guardian, a social worker acting on a signed form) and on what basis. Every change is
written to the audit log. Withdrawing keeps the row (the record that consent existed) and
stops the check at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from hub import audit
from hub.errors import InvalidInput, NotFound

Conn = psycopg.Connection[tuple[object, ...]]
TEXT_MAX = 200


@dataclass(frozen=True, slots=True)
class WelfareConsent:
    device_id: str
    vulnerable: bool
    given_at: datetime
    given_by: str
    basis: str
    withdrawn_at: datetime | None
    recorded_at: datetime
    recorded_by: str

    @property
    def active(self) -> bool:
        return self.vulnerable and self.withdrawn_at is None


_COLUMNS = sql.SQL("device_id, vulnerable, consent_given_at, consent_given_by, consent_basis, withdrawn_at, "
                   "recorded_at, recorded_by")


def _text(value: str, what: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInput(f"The consent's {what} must not be empty.")
    if len(cleaned) > TEXT_MAX:
        raise InvalidInput(f"The consent's {what} is at most {TEXT_MAX} characters.")
    return cleaned


def record_consent(conn: Conn, device_id: str, *, given_at: datetime, given_by: str, basis: str,
                   actor: str, vulnerable: bool = True) -> WelfareConsent:
    """Register (or renew) the welfare check of the household behind smart meter *device_id*."""
    by, why = _text(given_by, "giver"), _text(basis, "basis")
    if given_at.tzinfo is None:
        raise InvalidInput("The consent time needs a time zone (e.g. 2026-11-02T10:00+09:00).")
    if given_at > datetime.now(UTC):
        raise InvalidInput("Consent cannot be given in the future.")
    with conn.transaction():
        row = conn.execute("SELECT kind FROM hub.devices WHERE id = %s", (device_id,)).fetchone()
        if row is None:
            raise NotFound(f"There is no device {device_id!r}.")
        if row[0] != "smart_meter":
            raise InvalidInput(f"Device {device_id!r} is a {row[0]}; the welfare check watches smart meters.")
        conn.execute(
            "INSERT INTO hub.welfare_consents (device_id, vulnerable, consent_given_at, "
            "consent_given_by, consent_basis, recorded_by) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (device_id) DO UPDATE SET vulnerable = EXCLUDED.vulnerable, "
            "consent_given_at = EXCLUDED.consent_given_at, consent_given_by = EXCLUDED.consent_given_by, "
            "consent_basis = EXCLUDED.consent_basis, withdrawn_at = NULL, recorded_at = now(), "
            "recorded_by = EXCLUDED.recorded_by",
            (device_id, vulnerable, given_at, by, why, actor))
        audit.append(conn, actor=actor, action="welfare.consent", target=f"device:{device_id}",
                     details={"given_at": given_at.isoformat(), "basis": why, "vulnerable": vulnerable})
    return get_consent(conn, device_id)


def withdraw_consent(conn: Conn, device_id: str, *, actor: str) -> WelfareConsent:
    with conn.transaction():
        cur = conn.execute("UPDATE hub.welfare_consents SET withdrawn_at = now() "
                           "WHERE device_id = %s AND withdrawn_at IS NULL", (device_id,))
        if cur.rowcount == 0:
            get_consent(conn, device_id)  # NotFound when there is none at all
            raise InvalidInput(f"The welfare-check consent of {device_id!r} is already withdrawn.")
        audit.append(conn, actor=actor, action="welfare.withdraw", target=f"device:{device_id}")
    return get_consent(conn, device_id)


def get_consent(conn: Conn, device_id: str) -> WelfareConsent:
    row = conn.execute(sql.SQL("SELECT {} FROM hub.welfare_consents WHERE device_id = %s").format(_COLUMNS),
                       (device_id,)).fetchone()
    if row is None:
        raise NotFound(f"No welfare-check consent is recorded for {device_id!r}.")
    return WelfareConsent(*row)  # type: ignore[arg-type]


def list_consents(conn: Conn) -> list[WelfareConsent]:
    rows = conn.execute(sql.SQL("SELECT {} FROM hub.welfare_consents ORDER BY device_id")
                        .format(_COLUMNS)).fetchall()
    return [WelfareConsent(*r) for r in rows]  # type: ignore[arg-type]


def record_many(conn: Conn, device_ids: Iterable[str], *, given_at: datetime, given_by: str, basis: str,
                actor: str) -> int:
    """Register the devices that have no consent row yet (the simulator's demo households);
    an existing row, withdrawn or not, is left as its owner set it."""
    known = {c.device_id for c in list_consents(conn)}
    added = 0
    for device_id in device_ids:
        if device_id not in known:
            record_consent(conn, device_id, given_at=given_at, given_by=given_by, basis=basis, actor=actor)
            added += 1
    return added
