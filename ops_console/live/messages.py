"""What the live view sends: one frozen message, encoded once and shared by every client.

A message names the channels it belongs to (``routes``); a client receives it when it
subscribed to any of them. Messages with a ``key`` may be coalesced with a newer message
of the same key when a client falls behind (the newer wins, or ``merge`` combines the
two); messages without one (alert changes) are always delivered, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import msgspec

Key = tuple[str, ...]


@dataclass(frozen=True)
class Message:
    routes: tuple[str, ...]
    body: Mapping[str, Any]
    key: Key | None = None
    seq: int | None = None  # alert change sequence number, for resuming

    @cached_property
    def text(self) -> str:
        return msgspec.json.encode(self.body).decode()


def alert_change(alert_id: int, seq: int, state: str, severity: str, **extra: Any) -> Message:
    body: dict[str, Any] = {"type": "alert", "seq": seq, "alert_id": alert_id, "state": state,
                            "severity": severity}
    body.update(extra)
    return Message(("alerts",), body, seq=seq)


def device_status(device_id: str, online: bool, zone: str | None) -> Message:
    body = {"type": "device_status", "device_id": device_id, "online": online, "zone": zone}
    return Message(("devices",), body, key=("devices", device_id))


def readings(device_id: str, zone: str | None, values: Sequence[Mapping[str, Any]]) -> Message:
    """Latest readings of one device; *values* are ``{"ts", "metric", "value"}``."""
    routes = (f"readings:device:{device_id}",) + ((f"readings:zone:{zone}",) if zone else ())
    body = {"type": "readings", "device_id": device_id, "zone": zone, "readings": list(values)}
    return Message(routes, body, key=("readings", device_id))


def kpis(values: Mapping[str, Any]) -> Message:
    return Message(("kpis",), {"type": "kpis", **values}, key=("kpis",))


def events(device_id: str, zone: str | None, items: Sequence[Mapping[str, Any]]) -> Message:
    routes = ("events",) + ((f"events:zone:{zone}",) if zone else ())
    return Message(routes, {"type": "events", "device_id": device_id, "zone": zone,
                            "events": list(items)})


def merge(older: Message, newer: Message) -> Message:
    """One message standing for *older* followed by *newer* (same key)."""
    if newer.body.get("type") != "readings":
        return newer
    # Keep the latest reading of every metric either message had.
    latest: dict[str, Mapping[str, Any]] = {}
    for item in _readings(older) + _readings(newer):
        metric = str(item.get("metric"))
        kept = latest.get(metric)
        if kept is None or str(item.get("ts")) >= str(kept.get("ts")):
            latest[metric] = item
    body = dict(newer.body)
    body["readings"] = sorted(latest.values(), key=lambda r: str(r.get("metric")))
    return Message(newer.routes, body, key=newer.key)


def _readings(message: Message) -> list[Mapping[str, Any]]:
    values = message.body.get("readings")
    return list(values) if isinstance(values, Iterable) else []
