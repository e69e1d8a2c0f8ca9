"""The chaos scenarios: faults injected into a running ingest, and what was lost.

Each scenario publishes readings numbered per device at QoS 1, keeps the PUBACK of
every one the broker acknowledged, injects its fault, and counts from the database
what was lost, duplicated, recovered and stored unexpectedly (ingest/chaos/counts.py).
`tests/chaos` runs them with short faults; `cityhub bench chaos` with the long ones
(docs/chaos.md).
"""
