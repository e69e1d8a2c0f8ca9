"""MQTT ingest: broker messages become hub rows, acknowledged only after commit."""
