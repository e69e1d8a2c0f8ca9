"""Test plugins: a real PostgreSQL (fix_db) and a real Mosquitto (fix_mqtt).

Every test run gets its own audit key file (hub/audit_keys.py) and state directory,
inherited by the services the tests start, so that no run writes a key into the machine's
state directory or finds a running `cityhub up` there (whose broker's logins `cityhub device
add` would rewrite).
"""

import os
import tempfile

pytest_plugins = ["tests.fix_db", "tests.fix_mqtt", "tests.fix_ingest", "tests.fix_analytics"]

if "CITYHUB_AUDIT_KEY_FILE" not in os.environ:
    os.environ["CITYHUB_AUDIT_KEY_FILE"] = os.path.join(
        tempfile.mkdtemp(prefix="cityhub-test-keys-"), "audit-keys.json")
if "CITYHUB_STATE_DIR" not in os.environ:
    os.environ["CITYHUB_STATE_DIR"] = tempfile.mkdtemp(prefix="cityhub-test-state-")
