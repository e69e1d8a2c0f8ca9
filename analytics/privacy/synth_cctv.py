"""A day of CCTV detections to prove the CCTV releases on: people and vehicles moving.

Several cameras in several zones. People follow a day's routine (home zone, a
morning trip to a work zone, sometimes a midday trip, an evening trip back), detected
as person events with a ``track_id`` at a camera of each zone they pass; vehicles with
a ``licence_plate`` park illegally here and there; a few events carry no identifier
at all. Commuter routes are shared by many, so most hour × zone-pair cells of the
movement release hold 5 tracks or more, and a few rare trips fall below.

:func:`detections` is pure (seeded); :func:`write_day` registers the cameras, passes
every payload through ingest's own :class:`~ingest.validate.Validator`, so plates and
track ids are pseudonymised exactly as ingest does (tracks under the day key), and
COPYs the rows into ``hub.events``.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg

from devices.sim.cctv import licence_plate
from hub.catalogue import Catalogue
from hub.errors import AlreadyExists
from hub.pseudonym import PseudonymKeys
from hub.registry import add_device
from ingest.messages import Rejection
from ingest.validate import TimeWindow, Validator

Conn = psycopg.Connection[tuple[Any, ...]]
ZONES = ("jongno-gu", "jung-gu", "yongsan-gu", "mapo-gu", "gangnam-gu")
_PERSON_EVENTS = ("loitering", "loitering", "loitering", "intrusion", "fall")
_ANONYMOUS_EVENTS = ("abandoned_object", "smoke", "crowd")


@dataclass(frozen=True, slots=True)
class Detection:
    device_id: str
    payload: dict[str, Any]  # as the camera publishes it: raw plate / track id


@dataclass(frozen=True, slots=True)
class CctvDay:
    day: date
    cameras: dict[str, str]  # device id -> zone
    events: int
    people: int
    vehicles: int


def camera_ids(zones: Sequence[str], per_zone: int) -> dict[str, str]:
    return {f"synth-cam-{zone}-{n}": zone for zone in zones for n in range(1, per_zone + 1)}


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def detections(day: date, *, zones: Sequence[str] = ZONES, cameras_per_zone: int = 2,
               people: int = 300, vehicles: int = 60, seed: int = 0) -> list[Detection]:
    """The payloads the cameras publish on *day* (UTC), in time order."""
    rng = random.Random(f"synth-cctv:{seed}:{day.isoformat()}")
    cams = camera_ids(zones, cameras_per_zone)
    by_zone: dict[str, list[str]] = defaultdict(list)
    for cam, zone in cams.items():
        by_zone[zone].append(cam)
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    found: list[tuple[int, str, dict[str, Any]]] = []

    def at(hour: float, minutes: float = 50.0) -> datetime:
        return midnight + timedelta(hours=hour, minutes=rng.uniform(0.0, minutes))

    # Commutes concentrate on a few routes: home zones are the first ones, work zones the last.
    homes, works = list(zones[: max(1, len(zones) // 2 + 1)]), list(zones[len(zones) // 2:])
    for p in range(people):
        track = f"trk-{seed}-{p:05d}"
        home, work = rng.choice(homes[:2] if rng.random() < 0.7 else homes), rng.choice(works)
        trips = [(home, 7.0 + rng.random()), (work, 8.0 + rng.random() * 0.9)]
        if rng.random() < 0.2:  # a rare midday errand somewhere else
            trips.append((rng.choice(zones), 12.0 + rng.random() * 2))
            trips.append((work, 14.0 + rng.random()))
        if rng.random() < 0.8:
            trips.append((home, 18.0 + rng.random() * 0.9))
        for zone, hour in trips:
            for _ in range(rng.randint(1, 3)):
                found.append((_ms(at(hour, 10.0)), rng.choice(by_zone[zone]), {
                    "type": rng.choice(_PERSON_EVENTS), "track_id": track,
                    "confidence": round(rng.uniform(0.6, 0.99), 2), "object_class": "person"}))
    for _ in range(vehicles):
        plate = licence_plate(rng)
        for zone in rng.sample(list(zones), k=rng.randint(1, min(3, len(zones)))):
            found.append((_ms(at(rng.uniform(8.0, 20.0))), rng.choice(by_zone[zone]), {
                "type": "illegal_parking", "licence_plate": plate,
                "confidence": round(rng.uniform(0.7, 0.99), 2), "object_class": "car"}))
    for _ in range(max(1, people // 20)):
        found.append((_ms(at(rng.uniform(0.0, 23.0))), rng.choice(list(cams)), {
            "type": rng.choice(_ANONYMOUS_EVENTS), "confidence": 0.8}))
    found.sort(key=lambda f: f[0])
    # hub.events is keyed by (device, type, ts): no camera reports one type twice a millisecond.
    taken: set[tuple[str, str, int]] = set()
    result: list[Detection] = []
    for ms, cam, payload in found:
        while (cam, payload["type"], ms) in taken:
            ms += 1
        taken.add((cam, payload["type"], ms))
        result.append(Detection(cam, {"ts": ms, **payload}))
    return result


def register_cameras(conn: Conn, catalogue: Catalogue, cameras: dict[str, str]) -> None:
    for device_id, zone in cameras.items():
        with suppress(AlreadyExists):  # a second day for the same cameras
            add_device(conn, catalogue, device_id, "cctv", zone=zone)


def write_day(conn: Conn, catalogue: Catalogue, keys: PseudonymKeys, day: date, *,
              zones: Sequence[str] = ZONES, cameras_per_zone: int = 2, people: int = 300,
              vehicles: int = 60, seed: int = 0) -> CctvDay:
    """Register the cameras and write one day of their events into hub.events."""
    cameras = camera_ids(zones, cameras_per_zone)
    register_cameras(conn, catalogue, cameras)
    found = detections(day, zones=zones, cameras_per_zone=cameras_per_zone, people=people,
                       vehicles=vehicles, seed=seed)
    midnight = datetime.combine(day, time(0), tzinfo=UTC)
    window = TimeWindow(midnight, midnight + timedelta(days=1))
    validator = Validator(catalogue, keys)
    with conn.transaction(), conn.cursor() as cur, cur.copy(
        "COPY hub.events (ts, device_id, type, severity, confidence, subject, attributes) "
        "FROM STDIN"
    ) as copy:
        for detection in found:
            events = validator.events(detection.device_id, "cctv", detection.payload, window)
            if isinstance(events, Rejection):  # the generator's bug, never the data's
                raise AssertionError(f"ingest rejects a synthetic event: {events.reason}")
            for e in events:
                copy.write_row((e.ts, e.device_id, e.type, e.severity, e.confidence, e.subject,
                                json.dumps(e.attributes)))
    return CctvDay(day, cameras, len(found), people, vehicles)
