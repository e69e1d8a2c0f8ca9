"""The console fixtures of tests/ops_console, for the browser tests."""

from tests.ops_console.conftest import accounts, console_app, console_server, console_settings

__all__ = ["accounts", "console_app", "console_server", "console_settings"]
