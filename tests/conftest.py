"""Test plugins: a real PostgreSQL (fix_db) and a real Mosquitto (fix_mqtt).

Every test run gets its own audit key file (hub/audit_keys.py), inherited by the services
the tests start, so that no run writes a key into the machine's state directory.
"""

import os
import tempfile

pytest_plugins = ["tests.fix_db", "tests.fix_mqtt", "tests.fix_ingest", "tests.fix_analytics"]

if "CITYHUB_AUDIT_KEY_FILE" not in os.environ:
    os.environ["CITYHUB_AUDIT_KEY_FILE"] = os.path.join(
        tempfile.mkdtemp(prefix="cityhub-test-keys-"), "audit-keys.json")
