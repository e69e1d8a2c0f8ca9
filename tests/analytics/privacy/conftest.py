"""The console's fixtures (tests/ops_console) for the releases' API tests."""

from __future__ import annotations

from tests.ops_console.conftest import (
    accounts,
    client,
    console_app,
    console_server,
    console_settings,
    token_for,
)

__all__ = ["accounts", "client", "console_app", "console_server", "console_settings", "token_for"]
