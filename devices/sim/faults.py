"""Sensor faults applied to readings, and the malformed payloads of transport faults. Pure.

Sensor faults change values the way broken hardware does: *stuck_value* repeats the
value read when the fault began; *drift* adds an offset growing by ``per_hour``;
*spike* multiplies a reading by ``factor`` with ``probability`` (and raises it to
``at_least`` when given, so a spike crosses an alert level even on a clean day); *dropout* sends
nothing (handled by the simulator). Values stay inside the catalogue's valid range, so
the hub stores them and analytics has to notice.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, MutableMapping
from typing import Any

from devices.sim.schedule import Anomaly

# Malformed forms and the rejection the hub gives each (ingest/validate.py).
MALFORMED_FORMS = {
    "truncated_json": "malformed_json",
    "not_a_number": "bad_value",
    "out_of_range": "out_of_range",
    "missing_ts": "bad_timestamp",
    "unknown_event": "unknown_event_type",
}


def apply_sensor_fault(
    values: dict[str, Any], anomaly: Anomaly, t: float, rng: random.Random,
    bounds: Mapping[str, tuple[float, float]], stuck: MutableMapping[tuple[int, int, str], float],
) -> None:
    """Change *values* in place as *anomaly* (a sensor fault active at *t*) would."""
    metric = anomaly.text("metric", next(iter(bounds), ""))
    if metric not in values:
        return
    low, high = bounds.get(metric, (float("-inf"), float("inf")))
    value = float(values[metric])
    if anomaly.label == "stuck_value":
        value = stuck.setdefault((anomaly.id, anomaly.cycle, metric), value)
    elif anomaly.label == "drift":
        value += anomaly.number("per_hour", 1.0) * (t - anomaly.start) / 3600.0
    elif anomaly.label == "spike":
        if rng.random() < anomaly.number("probability", 0.2):
            value = max(value * anomaly.number("factor", 8.0), anomaly.number("at_least", value))
    else:
        return
    values[metric] = round(min(max(value, low), high), 4)


def malformed_payload(form: str, kind: str, ts_ms: int, metric: str) -> tuple[str, bytes]:
    """(channel, payload) of a malformed message of *form* for a device of *kind*."""
    if form == "truncated_json":
        return "telemetry", b'{"ts": %d, "%s": 4' % (ts_ms, metric.encode())
    if form == "not_a_number":
        return "telemetry", b'{"ts": %d, "%s": "high"}' % (ts_ms, metric.encode())
    if form == "out_of_range":
        return "telemetry", b'{"ts": %d, "%s": -1e9}' % (ts_ms, metric.encode())
    if form == "missing_ts":
        return "telemetry", b'{"%s": 1.0}' % metric.encode()
    if form == "unknown_event":
        return "events", b'{"ts": %d, "type": "alien_landing", "confidence": 0.9}' % ts_ms
    known = ", ".join(MALFORMED_FORMS)
    raise ValueError(f"Unknown malformed form {form!r} (forms: {known}) for a {kind} device.")
