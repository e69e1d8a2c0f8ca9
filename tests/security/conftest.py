"""The security suite runs against the real console (the fixtures of tests/ops_console,
reused, not copied) and a real Mosquitto with the generated passwords and ACL (the
fixtures of tests/hub/test_broker_auth.py, imported where a module needs them)."""

from tests.ops_console.conftest import (  # noqa: F401  (fixtures, found by name)
    accounts,
    client,
    console_app,
    console_server,
    console_settings,
    token_for,
)
