"""A small demo publisher for `cityhub up`: plausible readings from a few devices."""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoDevice:
    id: str
    kind: str


def reading(kind: str, t: float, rng: random.Random) -> dict[str, float] | None:
    """One plausible reading of *kind* at epoch second *t* (None: nothing to send)."""
    day = math.sin(2 * math.pi * ((t / 86400.0) % 1.0))
    if kind == "air_quality":
        return {
            "pm10": round(max(0.0, 35 + 15 * day + rng.gauss(0, 4)), 1),
            "pm25": round(max(0.0, 18 + 8 * day + rng.gauss(0, 2)), 1),
            "o3": round(max(0.0, 0.03 + 0.015 * day + rng.gauss(0, 0.003)), 4),
            "no2": round(max(0.0, 0.025 - 0.01 * day + rng.gauss(0, 0.002)), 4),
            "co": round(max(0.0, 0.4 + rng.gauss(0, 0.05)), 3),
            "so2": round(max(0.0, 0.003 + rng.gauss(0, 0.0005)), 4),
            "temperature": round(12 + 6 * day + rng.gauss(0, 0.3), 1),
            "humidity": round(min(100.0, max(0.0, 60 - 15 * day + rng.gauss(0, 2))), 1),
        }
    if kind == "smart_meter":
        return {
            "power_kw": round(max(0.0, 0.6 + 0.4 * day + rng.gauss(0, 0.1)), 3),
            "voltage": round(220 + rng.gauss(0, 1.5), 1),
        }
    if kind == "cctv":
        return {"person_count": float(max(0, int(12 + 10 * day + rng.gauss(0, 3))))}
    return None


def run_demo(mqtt_url: str, devices: list[DemoDevice], rate: float, stop: threading.Event) -> int:
    """Publish about *rate* messages per second across *devices* until *stop*; return count."""
    parts = urlsplit(mqtt_url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"cityhub-demo-{random.getrandbits(32):x}")
    if parts.username:
        client.username_pw_set(parts.username, parts.password)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    rng = random.Random(7)
    energy = {d.id: 1000.0 * (i + 1) for i, d in enumerate(devices)}
    sent = 0
    interval = 1.0 / rate if rate > 0 else 1.0
    try:
        while not stop.is_set():
            for device in devices:
                now = time.time()
                values = reading(device.kind, now, rng)
                if values is None:
                    continue
                if device.kind == "smart_meter":
                    energy[device.id] += values["power_kw"] * interval / 3600 * len(devices)
                    values["energy_kwh"] = round(energy[device.id], 3)
                payload = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), **values}
                client.publish(f"cityhub/v1/{device.id}/telemetry", json.dumps(payload), qos=1)
                sent += 1
                if stop.wait(interval):
                    break
    finally:
        client.disconnect()
        client.loop_stop()
    return sent
