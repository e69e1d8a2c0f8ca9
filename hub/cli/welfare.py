"""`cityhub device welfare …`: record, withdraw and list welfare-check consents (hub/welfare.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import console, database_url, print_json, settings
from hub.db import connection
from hub.errors import InvalidInput
from hub.timeparse import BadTimestamp, parse_user_time
from hub.welfare import WelfareConsent, list_consents, record_consent, withdraw_consent

app = typer.Typer(no_args_is_help=True, help="Welfare check of vulnerable households' meters, with consent.")
ACTOR = "cli"


def _json(c: WelfareConsent) -> dict[str, object]:
    return {"device_id": c.device_id, "vulnerable": c.vulnerable, "given_at": c.given_at.isoformat(),
            "given_by": c.given_by, "basis": c.basis,
            "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
            "recorded_at": c.recorded_at.isoformat(), "recorded_by": c.recorded_by, "active": c.active}


@app.command("set")
def set_command(
    device_id: Annotated[str, typer.Argument(help="The household's smart meter.")],
    given_by: Annotated[str, typer.Option("--by", help="Who gave consent: resident, guardian …")],
    basis: Annotated[str, typer.Option(help="The basis, e.g. 'signed form, care programme 2026'.")],
    given_at: Annotated[str | None, typer.Option(
        "--given-at", help="When consent was given (ISO-8601); default now.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Register a vulnerable household's meter for the welfare check, with its consent."""
    try:
        when = parse_user_time(given_at) if given_at else datetime.now(UTC)
    except BadTimestamp as exc:
        raise InvalidInput(f"--given-at: {exc}") from exc
    with connection(database_url(settings())) as conn:
        consent = record_consent(conn, device_id, given_at=when, given_by=given_by, basis=basis, actor=ACTOR)
    if as_json:
        print_json(_json(consent))
        return
    console.print(f"{consent.device_id}: welfare check on (consent {consent.given_at:%Y-%m-%d} "
                  f"by {consent.given_by}; {consent.basis})")


@app.command("withdraw")
def withdraw(device_id: Annotated[str, typer.Argument(help="The household's smart meter.")]) -> None:
    """Withdraw consent: the welfare check of this meter stops at once."""
    with connection(database_url(settings())) as conn:
        consent = withdraw_consent(conn, device_id, actor=ACTOR)
    console.print(f"{consent.device_id}: consent withdrawn; no welfare check")


@app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False) -> None:
    """List the registered households' meters and their consent."""
    with connection(database_url(settings())) as conn:
        consents = list_consents(conn)
    if as_json:
        for c in consents:
            print_json(_json(c))
        return
    table = Table("device", "active", "given", "by", "basis", "withdrawn")
    for c in consents:
        table.add_row(c.device_id, "yes" if c.active else "no", c.given_at.date().isoformat(), c.given_by,
                      c.basis, c.withdrawn_at.date().isoformat() if c.withdrawn_at else "")
    console.print(table)
