"""How long the tests' faults last: seconds, where `cityhub bench chaos` takes minutes."""

from ingest.chaos.lab import Scale

TEST_SCALE = Scale(rate=300, lead_s=1.0, fault_s=2.0, devices=3, queue_limit=100)
