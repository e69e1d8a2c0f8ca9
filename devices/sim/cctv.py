"""CCTV cameras with video analytics: people counts and events. Pure apart from its state.

Each camera watches a site (station exit, street, park, car park) drawn from the seed.
Its ``person_count`` follows the pedestrian day (peaks at 08:30 and 18:30, busier on
weekday rush hours at stations). Events arrive as a Poisson process whose hourly rates
depend on the site and the hour (intrusions at night, illegal parking by day); between
two reports the number of events is Poisson(rate × interval) at uniform times.
Scripted scenes come from ground-truth anomalies: a crowd building up to a peak and
dispersing (with ``crowd`` events while above the threshold), and a night-time fire
(smoke first, then fire, with growing confidence).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devices.sim.air_quality import trapezoid
from devices.sim.clock import bump, local_hour, weekday
from devices.sim.fleet import SimDevice
from devices.sim.schedule import Anomaly

SITES = ("station_exit", "street", "park", "car_park")
_BASE_COUNT = {"station_exit": 60.0, "street": 25.0, "park": 12.0, "car_park": 4.0}
# Events per camera per hour by day (06–22) and by night.
_RATES: dict[str, tuple[float, float]] = {
    "intrusion": (0.01, 0.12),
    "loitering": (0.15, 0.25),
    "fall": (0.03, 0.01),
    "illegal_parking": (0.6, 0.1),
    "abandoned_object": (0.05, 0.02),
}
_OBJECTS = {"intrusion": "person", "loitering": "person", "fall": "person",
            "illegal_parking": "vehicle", "abandoned_object": "bag"}
_PLATE_SYLLABLES = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주하허호"


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method for small means, a normal approximation above 30)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def licence_plate(rng: random.Random) -> str:
    """A Korean plate such as 123가4567."""
    return f"{rng.randint(10, 399)}{rng.choice(_PLATE_SYLLABLES)}{rng.randint(1000, 9999)}"


@dataclass(slots=True)
class Camera:
    site: str
    scale: float
    last_t: float | None = None


def event_rates(site: str, t: float) -> dict[str, float]:
    """Hourly rate of each background event type at a site and time."""
    h = local_hour(t)
    night = h < 6.0 or h >= 22.0
    rates = {name: pair[1] if night else pair[0] for name, pair in _RATES.items()}
    if site == "car_park":
        rates["illegal_parking"] *= 2.0
    if site == "station_exit":
        rates["abandoned_object"] *= 3.0
    return rates


class CctvModel:
    def __init__(self, devices: Sequence[SimDevice], seed: int) -> None:
        self.cameras: dict[str, Camera] = {}
        for d in devices:
            rng = random.Random(f"{seed}:cctv:{d.id}")
            self.cameras[d.id] = Camera(site=rng.choice(SITES), scale=rng.uniform(0.6, 1.5))

    def expected_count(self, camera: Camera, t: float) -> float:
        h = local_hour(t)
        rush = 1.6 if camera.site == "station_exit" and weekday(t) < 5 else 1.0
        day = 0.08 + 0.5 * bump(h, 13.0, 4.0) + rush * (0.7 * bump(h, 8.5, 1.0) + 0.8 * bump(h, 18.5, 1.5))
        return _BASE_COUNT[camera.site] * camera.scale * day

    def report(self, device_id: str, t: float, rng: random.Random,
               anomalies: Sequence[Anomaly] = ()) -> tuple[dict[str, float | str], list[dict[str, Any]]]:
        """The camera's reading at *t* and the events since its previous report."""
        camera = self.cameras[device_id]
        since = t - 60.0 if camera.last_t is None else camera.last_t
        camera.last_t = t
        count = float(poisson(rng, self.expected_count(camera, t)))
        events: list[dict[str, Any]] = []
        span = max(0.0, t - since)
        for name, rate in event_rates(camera.site, t).items():
            for _ in range(poisson(rng, rate * span / 3600.0)):
                events.append(self._event(name, since + rng.random() * span, rng))
        for anomaly in anomalies:
            if anomaly.label == "crowd_build_up":
                length = anomaly.end - anomaly.start
                crowd = anomaly.number("peak", 900.0) * trapezoid(t - anomaly.start, length, length * 0.4)
                count += round(crowd)
                if count > anomaly.number("threshold", 300.0):
                    events.append({"ts": t, "type": "crowd", "confidence": 0.9,
                                   "zone_name": "exit", "person_count": count})
            elif anomaly.label == "night_fire":
                progress = (t - anomaly.start) / max(anomaly.end - anomaly.start, 1.0)
                confidence = round(min(0.99, 0.6 + 0.6 * progress), 2)
                events.append({"ts": t, "type": "smoke", "confidence": confidence,
                               "zone_name": "building", "object_class": "smoke"})
                if progress > 0.1:
                    events.append({"ts": t, "type": "fire", "confidence": confidence,
                                   "zone_name": "building", "object_class": "flame"})
        events.sort(key=lambda e: float(e["ts"]))
        return {"person_count": count, "zone_name": camera.site}, events

    def scripted_event(self, name: str, ts: float, rng: random.Random) -> dict[str, Any]:
        """One event of type *name* at *ts*, as the camera's analytics would report it.

        For scenarios (``cctv_event``): confident enough that no one doubts it was seen.
        """
        event = self._event(name, ts, rng)
        event["confidence"] = round(rng.uniform(0.85, 0.97), 2)
        return event

    def _event(self, name: str, ts: float, rng: random.Random) -> dict[str, Any]:
        event: dict[str, Any] = {"ts": ts, "type": name, "confidence": round(rng.uniform(0.55, 0.98), 2),
                                 "zone_name": "view", "object_class": _OBJECTS.get(name, "object")}
        if name == "illegal_parking":
            event["licence_plate"] = licence_plate(rng)
        elif _OBJECTS.get(name) == "person":
            event["track_id"] = f"trk-{rng.getrandbits(32):08x}"
        return event
