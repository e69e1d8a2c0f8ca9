"""Simulated history for the detectors' tests: the pure device simulator, run over a past range
without a broker, and its readings copied straight into ``hub.telemetry`` (the rollup triggers
fill the 1-minute and hourly tables as ingest's inserts would)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from devices.sim.fleet import SimDevice
from devices.sim.groundtruth import TruthRecord
from devices.sim.scenarios import Injection, Scenario
from devices.sim.simulator import Simulator
from devices.sim.smart_meter import profile_of
from hub.catalogue import Catalogue
from hub.registry import add_missing
from tests.helpers import Conn
from tests.token_keys import KEYS

Row = tuple[datetime, str, str, float]


@dataclass(frozen=True, slots=True)
class SimRun:
    fleet: list[SimDevice]
    rows: list[Row]
    truth: list[TruthRecord]

    def devices_with(self, label: str) -> tuple[str, ...]:
        return tuple(d for r in self.truth if r.label == label for d in r.device_ids)


def fleet(kind: str, zones: Sequence[tuple[str, float, float]], per_zone: int) -> list[SimDevice]:
    """*per_zone* devices of *kind* around each (zone, lat, lon), with ids no other test uses."""
    tag = secrets.token_hex(3)
    prefix = {"air_quality": "aq", "smart_meter": "meter"}[kind]
    return [SimDevice(f"{prefix}{tag}-{z}-{n:02d}", kind, z, round(lat + 0.001 * n, 6),
                      round(lon + 0.001 * n, 6))
            for z, lat, lon in zones for n in range(per_zone)]


def households(zone: tuple[str, float, float], profiles: dict[str, int], seed: int = 7) -> list[SimDevice]:
    """Smart meters of the given household profiles (devices/sim/smart_meter.py), found by
    drawing ids: a test's meters then behave the same at any time of day."""
    tag = secrets.token_hex(3)
    wanted = dict(profiles)
    name, lat, lon = zone
    out: list[SimDevice] = []
    n = 0
    while any(wanted.values()):
        device_id = f"meter{tag}-{name}-{n:03d}"
        n += 1
        profile = profile_of(device_id, seed)
        if wanted.get(profile, 0) > 0:
            wanted[profile] -= 1
            k = len(out)
            out.append(SimDevice(device_id, "smart_meter", name, round(lat + 0.001 * k, 6),
                                 round(lon + 0.001 * k, 6)))
    return out


def simulate(devices: list[SimDevice], catalogue: Catalogue, injections: Sequence[Injection],
             start: float, end: float, step_s: float, seed: int = 7) -> SimRun:
    """Every device reports every *step_s* simulated seconds from *start* to *end* (epoch s)."""
    sim = Simulator(devices, catalogue.kinds, Scenario("test", "test", tuple(injections)), seed, start)
    rows: list[Row] = []
    t = start
    while t < end:
        sim.transitions(t)
        for d in devices:
            for out in sim.report(d.id, t):
                if not out.topic.endswith("/telemetry"):
                    continue
                rows.extend(_rows(d.id, out.payload))
        t += step_s
    return SimRun(devices, rows, list(sim.truth))


def _rows(device_id: str, payload: bytes) -> Iterator[Row]:
    try:
        body = json.loads(payload)
    except ValueError:
        return
    ts = datetime.fromtimestamp(body.pop("ts") / 1000, UTC)
    for metric, value in body.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield ts, device_id, metric, float(value)


def store(db: Conn, catalogue: Catalogue, run: SimRun) -> None:
    add_missing(db, catalogue, [(d.id, d.kind, d.zone, d.lat, d.lon) for d in run.fleet], keys=KEYS)
    with db.cursor() as cur, cur.copy("COPY hub.telemetry (ts, device_id, metric, value) FROM STDIN") as copy:
        for row in run.rows:
            copy.write_row(row)
