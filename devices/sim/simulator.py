"""The pure core: what each simulated device publishes at a simulated time.

The engine asks ``report(device_id, t)`` on each device's turn and ``transitions(t)``
once a tick; the simulator answers with messages (topic, payload) and connection
controls (drop a device's connection so the broker publishes its last will; reconnect
it), and queues ground-truth records in ``truth`` as anomalies begin. No clock, no
sockets: the same seed and the same calls give the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from devices.sim.air_quality import AirQualityModel, dust_lag_s
from devices.sim.cctv import CctvModel
from devices.sim.clock import iso
from devices.sim.faults import MALFORMED_FORMS, apply_sensor_fault, malformed_payload
from devices.sim.fleet import SimDevice
from devices.sim.groundtruth import TruthRecord
from devices.sim.scenarios import ONE_SHOT, SENSOR_FAULTS, Injection, Scenario
from devices.sim.schedule import Anomaly, Schedule
from devices.sim.smart_meter import SmartMeterModel, profile_of
from hub.catalogue import Kind

_encode = msgspec.json.encode
FUTURE_TOLERANCE_S = 300.0  # the hub rejects readings further ahead (ingest/validate.py)
# Camera events the built-in rules map (hub/migrations/0016_rules.sql, 0017): event type → (rule,
# severity). The hub raises such an event under rule id "<rule>:<type>", any other event
# under "event:<type>" at the catalogue's severity; ground truth names the id it should use.
BUILTIN_EVENT_RULES: Mapping[str, tuple[str, str]] = {
    "fire": ("cctv-fire", "critical"), "smoke": ("cctv-fire", "critical"),
    "violence": ("cctv-police", "critical"), "intrusion": ("cctv-police", "critical"),
    "fall": ("cctv-fall", "critical"), "illegal_parking": ("cctv-parking", "info"),
}


# What the hub should raise for a sensor fault (analytics/models, migration 0021): a spiking
# station is a suspected sensor fault for maintenance, not a stream of pollution alerts.
SENSOR_FAULT_ALERTS: Mapping[str, str] = {
    **{label: "alert sensor-fault (warning, to maintenance)" for label in ("stuck_value", "drift", "spike")},
    "dropout": "alert air-station-silent (warning)",
}


def expected_alert(event_type: str, catalogue_severity: str) -> str:
    """What the hub should raise for a camera event, e.g. "alert cctv-fire:fire (critical)"."""
    rule, severity = BUILTIN_EVENT_RULES.get(event_type, ("event", catalogue_severity))
    return f"alert {rule}:{event_type} ({severity})"


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Control:
    action: Literal["drop", "reconnect"]
    device_id: str


def topic(device_id: str, channel: str) -> str:
    return f"cityhub/v1/{device_id}/{channel}"


def _clamp_to(values: dict[str, Any], bounds: Mapping[str, tuple[float, float]]) -> None:
    """Keep the models' numbers inside the catalogue's valid ranges (the models set floors)."""
    for metric, (low, high) in bounds.items():
        value = values.get(metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value < low:
                values[metric] = low
            elif value > high:
                values[metric] = high


class Simulator:
    def __init__(self, fleet: Sequence[SimDevice], kinds: Mapping[str, Kind], scenario: Scenario,
                 seed: int, start: float) -> None:
        self.devices = {d.id: d for d in fleet}
        if len(self.devices) != len(fleet):
            raise ValueError("Device ids in a fleet must be unique.")
        # Valid ranges per kind and metric, from the catalogue: every reading is kept inside.
        self.bounds = {name: {m.name: (m.min, m.max) for m in kind.metrics.values()}
                       for name, kind in kinds.items()}
        self.seed = seed
        self.rng = random.Random(seed)
        by_kind = {k: [d for d in fleet if d.kind == k] for k in ("air_quality", "smart_meter", "cctv")}
        self.air = AirQualityModel(by_kind["air_quality"], seed)
        self.meters = SmartMeterModel(by_kind["smart_meter"], seed)
        self.cameras = CctvModel(by_kind["cctv"], seed)
        self.schedule = Schedule(scenario, fleet, seed, start, self._eligible)
        self.truth: list[TruthRecord] = []
        self.offline: set[str] = set()
        self.will_devices = frozenset(
            d for a in self.schedule.base if a.label == "offline" for d in a.device_ids)
        self._topics = {d.id: (topic(d.id, "telemetry"), topic(d.id, "events")) for d in fleet}
        self._last_ms: dict[str, int] = {}
        self._stuck: dict[tuple[int, int, str], float] = {}
        self._done: set[tuple[int, int, str]] = set()
        # Event type → severity of the alert it raises (the catalogue's CCTV events).
        self.cctv_events = {name: e.severity for name, e in kinds["cctv"].events.items()} \
            if "cctv" in kinds else {}
        for a in self.schedule.base:
            if a.label == "malformed":
                form = a.text("form", "truncated_json")
                if form not in MALFORMED_FORMS:
                    raise ValueError(f"Scenario {scenario.name!r}: unknown malformed form {form!r}.")
            elif a.label == "cctv_event" and a.text("type", "") not in self.cctv_events:
                raise ValueError(f"Scenario {scenario.name!r}: cctv_event of unknown type "
                                 f"{a.text('type', '')!r}; the catalogue has {', '.join(self.cctv_events)}.")

    def _eligible(self, injection: Injection, device: SimDevice) -> bool:
        if injection.label == "theft":
            return profile_of(device.id, self.seed) != "vacant"
        if injection.label == "inactive_household":
            return profile_of(device.id, self.seed) == "single_elderly"
        return True

    # -- anomalies beginning and ending ----------------------------------------------------
    def transitions(self, t: float) -> list[Control]:
        controls: list[Control] = []
        for tr in self.schedule.transitions(t):
            a = tr.anomaly
            if tr.starting:
                if a.label not in ONE_SHOT:
                    self.truth.append(self._record(a))
                if a.label == "offline":
                    for device_id in a.device_ids:
                        self.offline.add(device_id)
                        controls.append(Control("drop", device_id))
            elif a.label == "offline":
                for device_id in a.device_ids:
                    self.offline.discard(device_id)
                    controls.append(Control("reconnect", device_id))
        return controls

    def _record(self, a: Anomaly) -> TruthRecord:
        details: dict[str, Any] = dict(a.params)
        end = a.end
        if a.label == "asian_dust":
            lags: dict[str, float] = {}
            for device_id in a.device_ids:
                device = self.devices[device_id]
                lag = dust_lag_s(self.air.stations[device_id], a)
                lags[device.zone] = min(lag, lags.get(device.zone, lag))
            end += max(lags.values(), default=0.0)
            details["arrival"] = {z: iso(a.start + lag) for z, lag in sorted(lags.items())}
            details["note"] = "PM10 above 150 µg/m³ for hours at every station, west first"
        elif a.label == "clock_skew":
            skew = a.number("skew_s", 900.0)
            details["expected"] = (
                "rejected: future_timestamp (when simulated time is the real time)"
                if skew > FUTURE_TOLERANCE_S else "stored at shifted times")
        elif a.label == "offline":
            details["via"] = "MQTT last will (connection dropped without DISCONNECT)"
        elif a.label in ("theft", "inactive_household"):
            details["profiles"] = {d: profile_of(d, self.seed) for d in a.device_ids}
        elif a.label == "meter_fault":
            details["effect"] = "energy register reset to 0; voltage sag"
        if a.label in SENSOR_FAULT_ALERTS:
            details["expected"] = SENSOR_FAULT_ALERTS[a.label]
        if a.cycle:
            details["cycle"] = a.cycle
        return TruthRecord(a.scenario, a.label, a.device_ids, a.start, end, details)

    # -- messages ---------------------------------------------------------------------------
    def status(self, device_id: str, online: bool) -> Outgoing:
        return Outgoing(topic(device_id, "status"), b"online" if online else b"offline", retain=True)

    def report(self, device_id: str, t: float) -> list[Outgoing]:
        """What *device_id* publishes on its turn at simulated time *t*."""
        if device_id in self.offline:
            return []
        active = self.schedule.active(device_id, t)
        skew_ms = 0
        for a in active:
            if a.label == "dropout":
                return []
            if a.label == "clock_skew":
                skew_ms = int(a.number("skew_s", 900.0) * 1000)
        device = self.devices[device_id]
        rng = self.rng
        # (device, metric, ts) is the hub's key: never reuse a millisecond.
        ts_ms = int(t * 1000) + skew_ms
        last = self._last_ms.get(device_id, 0)
        if ts_ms <= last:
            ts_ms = last + 1
        self._last_ms[device_id] = ts_ms
        telemetry_topic, events_topic = self._topics[device_id]
        events: list[dict[str, Any]] = []
        values: dict[str, Any]
        if device.kind == "air_quality":
            values = self.air.reading(device_id, t, rng, active)
        elif device.kind == "smart_meter":
            values = self.meters.reading(device_id, t, rng, active)
        else:
            values, events = self.cameras.report(device_id, t, rng, active)
        bounds = self.bounds[device.kind]
        _clamp_to(values, bounds)
        for a in active:
            if a.label in SENSOR_FAULTS:
                apply_sensor_fault(values, a, t, rng, bounds, self._stuck)
        body = _encode(values)
        payload = b'{"ts":%d,' % ts_ms + body[1:]
        out = [Outgoing(telemetry_topic, payload)]
        for event in events:
            event["ts"] = int(event["ts"] * 1000) + skew_ms
            out.append(Outgoing(events_topic, _encode(event)))
        for a in active:
            if a.label in ONE_SHOT and (a.id, a.cycle, device_id) not in self._done:
                self._done.add((a.id, a.cycle, device_id))
                out.extend(self._one_shot(a, device, ts_ms, payload))
        return out

    def _one_shot(self, a: Anomaly, device: SimDevice, ts_ms: int, payload: bytes) -> list[Outgoing]:
        t = ts_ms / 1000.0
        telemetry_topic = self._topics[device.id][0]
        if a.label == "duplicate":
            self.truth.append(TruthRecord(a.scenario, a.label, (device.id,), t, t, {
                "copies": 2, "expected": "stored once"}))
            return [Outgoing(telemetry_topic, payload)]
        if a.label == "cctv_event":
            name = a.text("type", "")
            event = self.cameras.scripted_event(name, t, self.rng)
            event["ts"] = ts_ms
            self.truth.append(TruthRecord(a.scenario, a.label, (device.id,), t, t, {
                "type": name, "expected": expected_alert(name, self.cctv_events[name])}))
            return [Outgoing(self._topics[device.id][1], _encode(event))]
        if a.label == "malformed":
            form = a.text("form", "truncated_json")
            metric = next(iter(self.bounds[device.kind]), "value")
            channel, bad = malformed_payload(form, device.kind, ts_ms + 1, metric)
            self.truth.append(TruthRecord(a.scenario, a.label, (device.id,), t, t, {
                "form": form, "channel": channel, "expected": f"dead letter: {MALFORMED_FORMS[form]}"}))
            return [Outgoing(topic(device.id, channel), bad)]
        # burst: a backlog flushed at once, readings a second apart up to now
        count = int(a.number("count", 100))
        body = payload[payload.index(b",") :]
        first = ts_ms - count * 1000
        self.truth.append(TruthRecord(a.scenario, a.label, (device.id,), first / 1000.0, t, {
            "messages": count, "expected": "all stored"}))
        return [Outgoing(telemetry_topic, b'{"ts":%d' % (first + k * 1000) + body) for k in range(count)]
