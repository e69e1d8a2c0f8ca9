"""Test plugins: a real PostgreSQL (fix_db) and a real Mosquitto (fix_mqtt)."""

pytest_plugins = ["tests.fix_db", "tests.fix_mqtt", "tests.fix_ingest", "tests.fix_analytics"]
