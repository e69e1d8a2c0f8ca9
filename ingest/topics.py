"""The MQTT topic contract of DESIGN.md, version 1."""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "cityhub/v1"
CHANNELS = ("telemetry", "events", "status")


@dataclass(frozen=True, slots=True)
class Topic:
    device_id: str
    channel: str  # telemetry | events | status | gateway
    gateway: bool = False


def parse_topic(topic: str) -> Topic | None:
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == "cityhub" and parts[1] == "v1" and parts[3] in CHANNELS:
        return Topic(parts[2], parts[3])
    if len(parts) == 5 and parts[:3] == ["cityhub", "v1", "gateway"] and parts[4] == "telemetry":
        return Topic(parts[3], "telemetry", gateway=True)
    return None


def subscriptions(shared_group: str) -> list[str]:
    """Topic filters of the ingest service; shared when a group is given."""
    filters = [f"{PREFIX}/+/{channel}" for channel in CHANNELS]
    filters.append(f"{PREFIX}/gateway/+/telemetry")
    if not shared_group:
        return filters
    return [f"$share/{shared_group}/{f}" for f in filters]


def errors_topic(device_id: str) -> str:
    return f"{PREFIX}/{device_id}/errors"
