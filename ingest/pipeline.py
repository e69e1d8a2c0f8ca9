"""A batch of broker messages becomes one write plan. Pure: no I/O, no clock.

Two steps, so that the service can look up devices it has not cached between them:
``decode`` parses topics and JSON and names every device involved; ``plan`` validates
and builds the rows, dead letters and error replies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter

import msgspec

from hub.domain import Event
from hub.pseudonym import PseudonymKeys
from ingest.messages import (
    Accepted,
    DeadLetterRow,
    Incoming,
    Rejection,
    TelemetryRow,
)
from ingest.redact import redact
from ingest.topics import Topic, errors_topic, parse_topic
from ingest.validate import DeviceInfo, TimeWindow, Validator, parse_status

_decode = msgspec.json.decode
_error_encoder = msgspec.json.Encoder()
_NO_DOCUMENT = object()
# Readings leave the plan ordered by device, then as they arrived: consecutive COPY
# rows then land on the same leaf of the telemetry key's index (device_id, metric, ts),
# which costs PostgreSQL about 15 % less per row for gateway batches than arrival order.
_BY_DEVICE = itemgetter(1)


@dataclass(frozen=True, slots=True)
class Decoded:
    message: Incoming
    topic: Topic | None
    document: object  # the parsed JSON, or a Rejection
    device_ids: tuple[str, ...]


@dataclass(slots=True)
class BatchPlan:
    readings: list[TelemetryRow] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    online: dict[str, bool] = field(default_factory=dict)
    subjects: dict[str, str] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    errors: list[tuple[str, bytes]] = field(default_factory=list)
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    # Reading time (epoch s) of each accepted message, for the publish→commit lag.
    reading_times: list[float] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.readings or self.events or self.dead_letters or self.online
                    or self.subjects or self.seen)


def decode(message: Incoming) -> Decoded:
    topic = parse_topic(message.topic)
    if topic is None:
        return Decoded(message, None, Rejection("bad_topic", "topic is not a cityhub/v1 topic"), ())
    if topic.channel == "status":
        return Decoded(message, topic, _NO_DOCUMENT, (topic.device_id,))
    try:
        document = _decode(message.payload)
    except msgspec.DecodeError:
        return Decoded(
            message, topic, Rejection("malformed_json", "payload is not valid JSON"),
            (topic.device_id,),
        )
    if topic.gateway and isinstance(document, dict):
        return Decoded(message, topic, document, (topic.device_id, *document.keys()))
    return Decoded(message, topic, document, (topic.device_id,))


class Planner:
    def __init__(self, validator: Validator, personal: frozenset[str], keys: PseudonymKeys):
        self._validator = validator
        self._personal = personal
        self._keys = keys

    def _device(
        self, device_id: str, devices: Mapping[str, DeviceInfo]
    ) -> DeviceInfo | Rejection:
        info = devices.get(device_id)
        if info is None:
            return Rejection("unknown_device", f"device {device_id!r} is not registered")
        if not info.active:
            return Rejection("revoked_device", f"device {device_id!r} has been revoked")
        return info

    def _gateway(
        self, gateway_id: str, document: object, devices: Mapping[str, DeviceInfo],
        window: TimeWindow, accepted: Accepted,
    ) -> Rejection | None:
        gateway = self._device(gateway_id, devices)
        if isinstance(gateway, Rejection):
            return gateway
        if gateway.kind != "gateway":
            return Rejection("wrong_kind", f"device {gateway_id!r} is not a gateway")
        if not isinstance(document, dict) or not document:
            return Rejection("bad_payload", "a gateway payload maps device ids to readings")
        for child_id, readings in document.items():
            child = self._device(child_id, devices)
            if isinstance(child, Rejection):
                return child
            if child.gateway_id != gateway_id:
                return Rejection(
                    "not_behind_gateway", f"device {child_id!r} is not registered behind this gateway"
                )
            result = self._validator.telemetry(child_id, child.kind, readings, window)
            if isinstance(result, Rejection):
                return Rejection(result.code, f"device {child_id!r}: {result.reason}")
            accepted.readings.extend(result[0])
            if result[1] is not None:
                accepted.subjects[child_id] = result[1]
        return None

    def _one(
        self, item: Decoded, devices: Mapping[str, DeviceInfo], window: TimeWindow
    ) -> Accepted | Rejection:
        if isinstance(item.document, Rejection):
            return item.document
        topic = item.topic
        assert topic is not None
        accepted = Accepted(topic.device_id)
        if topic.gateway:
            problem = self._gateway(topic.device_id, item.document, devices, window, accepted)
            return problem or accepted
        device = self._device(topic.device_id, devices)
        if isinstance(device, Rejection):
            return device
        if topic.channel == "status":
            online = parse_status(item.message.payload)
            if isinstance(online, Rejection):
                return online
            accepted.online = online
        elif topic.channel == "telemetry":
            result = self._validator.telemetry(topic.device_id, device.kind, item.document, window)
            if isinstance(result, Rejection):
                return result
            accepted.readings = result[0]
            if result[1] is not None:
                accepted.subjects[topic.device_id] = result[1]
        else:
            events = self._validator.events(topic.device_id, device.kind, item.document, window)
            if isinstance(events, Rejection):
                return events
            accepted.events = events
        return accepted

    def plan(
        self, batch: Sequence[Decoded], devices: Mapping[str, DeviceInfo], window: TimeWindow
    ) -> BatchPlan:
        plan = BatchPlan()
        for item in batch:
            outcome = self._one(item, devices, window)
            message = item.message
            if isinstance(outcome, Rejection):
                self._reject(plan, item, outcome)
                continue
            plan.accepted += 1
            plan.readings.extend(outcome.readings)
            plan.events.extend(outcome.events)
            plan.subjects.update(outcome.subjects)
            if outcome.online is not None:
                plan.online[outcome.device_id] = outcome.online
            plan.seen[outcome.device_id] = message.received_at
            if outcome.readings:
                plan.reading_times.append(outcome.readings[0][0].timestamp())
            elif outcome.events:
                plan.reading_times.append(outcome.events[0].ts.timestamp())
        plan.readings.sort(key=_BY_DEVICE)
        return plan

    def _reject(self, plan: BatchPlan, item: Decoded, rejection: Rejection) -> None:
        message = item.message
        device_id = item.topic.device_id if item.topic else None
        plan.rejected[rejection.code] += 1
        received = datetime.fromtimestamp(message.received_at, tz=UTC)
        plan.dead_letters.append(
            DeadLetterRow(
                received, message.topic, device_id,
                redact(message.payload, self._personal, self._keys),
                rejection.code, rejection.reason,
            )
        )
        if device_id is not None:
            reply = {
                "topic": message.topic,
                "code": rejection.code,
                "reason": rejection.reason,
                "received_at": received.isoformat(),
            }
            plan.errors.append((errors_topic(device_id), _error_encoder.encode(reply)))
