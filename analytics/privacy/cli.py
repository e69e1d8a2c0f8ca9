"""`cityhub privacy`: release, verify and audit anonymised data."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True,
                  help="Anonymised releases of personal data, their verification and the "
                       "privacy audit of the database's roles (docs/privacy.md).")

# Each command module registers itself on ``app``.
import analytics.privacy.audit_cli  # noqa: E402
import analytics.privacy.budget_cli  # noqa: E402,F401
from analytics.privacy import release_cli  # noqa: E402,F401
