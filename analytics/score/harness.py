"""The default scenarios, fast: simulated in-process, written to the database, evaluated, scored.

For each scenario a fleet of its own (device ids and zones prefixed with the scenario, so the
scenarios share one database without sharing a zone) is registered, the simulator
(devices/sim/simulator.py, the same code `cityhub simulate` publishes from) is asked for every
device's reports over the scenario's span at its kind's interval, and what ingest would store
is copied into ``hub.telemetry`` and ``hub.events`` (invalid payloads, unknown event types and
readings too far in the future are dropped, as ingest rejects them). Then the live service's
:class:`~analytics.service.Evaluator` — the same code as live — walks the span in slices as if
the rows had been notified, and the alerts it raised are matched to the ground truth.
"""

from __future__ import annotations

import json
import logging
import secrets
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import psycopg

from analytics.models import meters_train
from analytics.models.store import save_model
from analytics.raising import apply
from analytics.ranges import TimeRange
from analytics.score import truth as truth_io
from analytics.score.match import AlertRow, Injection, Score, score
from analytics.service import Evaluator
from devices.sim.clock import KST
from devices.sim.fleet import SimDevice
from devices.sim.scenarios import SCENARIOS, Scenario
from devices.sim.simulator import Simulator
from devices.sim.smart_meter import profile_of
from devices.sim.zones import SEOUL
from hub.catalogue import Catalogue
from hub.device_tokens import parse_keys
from hub.registry import add_missing
from hub.welfare import record_many
from hub.zones import add_missing_areas, camera_areas

log = logging.getLogger(__name__)
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
SyncConn = psycopg.Connection[tuple[object, ...]]
HOUR = 3600.0
FUTURE_TOLERANCE_S = 300.0  # ingest/validate.py rejects readings further ahead
SLICE = timedelta(minutes=15)
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Run:
    scenario: str
    hours: float  # simulated span
    kinds: tuple[str, ...]
    # Normal history before the scenario begins (the meters' untrained baseline needs days).
    warmup_h: float = 0.0
    # How often the meters are scanned (the service: every minute of wall time). Each scan
    # reads days of hourly profiles, so the harness scans on the simulated clock, less often.
    meter_scan_h: float = 1.0
    # Train the meters' model on the warm-up (`cityhub analytics train` after a week of data).
    train_meters: bool = False


# The default scenarios and how long each must run for its anomalies to play out.
DEFAULT_RUNS = (
    Run("faults", 13.0, ("air_quality", "smart_meter", "cctv")),
    Run("meters", 30.0, ("smart_meter",), warmup_h=7 * 24.0, train_meters=True),
    Run("asian-dust", 7.0, ("air_quality",)),
    Run("ozone", 5.0, ("air_quality",)),
    Run("station-crowd", 2.0, ("cctv",)),
    Run("night-fire", 1.0, ("cctv",)),
)
# Per scenario: 3 districts, each with 4 stations, 8 meters and a camera.
FLEET_ZONES = SEOUL[:3]
PER_ZONE = {"air_quality": 4, "smart_meter": 6, "cctv": 1}
_PREFIX = {"air_quality": "aq", "smart_meter": "meter", "cctv": "cctv"}


@dataclass(slots=True)
class Outcome:
    scores: list[Score]
    injections: list[Injection]
    alerts: list[AlertRow]
    readings: int = 0
    events: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)  # the ground truth, as JSON lines hold it
    zones: dict[str, str] = field(default_factory=dict)  # device → zone
    timings: dict[str, float] = field(default_factory=dict)


def fleet(tag: str, kinds: Iterable[str]) -> list[SimDevice]:
    """The devices of one scenario run, in zones of their own (``<tag>-<district>``)."""
    out: list[SimDevice] = []
    for zone in FLEET_ZONES:
        for kind in kinds:
            for n in range(1, PER_ZONE[kind] + 1):
                angle = 0.9 * n + len(out)
                out.append(SimDevice(
                    f"{tag}-{_PREFIX[kind]}-{zone.short}-{n:04d}", kind, f"{tag}-{zone.name}",
                    round(zone.lat + 0.004 * (n % 3 - 1) + 0.0005 * (angle % 1), 6),
                    round(zone.lon + 0.004 * (n // 3 - 1), 6)))
    return out


def anchor(now: datetime, span_days: float = 14.0) -> float:
    """Monday 00:00 Seoul time of the week a week more than *span_days* before *now*: the same
    weekdays for every run within a week, all runs before *now*, inside the telemetry
    partitions' retention (90 days)."""
    local = (now - timedelta(days=span_days + 7)).astimezone(KST)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday.timestamp()


def start_of(scenario: Scenario, after: float) -> float:
    """The first moment after *after* at the scenario's local (Seoul) start time (09:00 if none)."""
    hours, minutes = (int(x) for x in (scenario.start_local or "09:00").split(":"))
    kst = 9 * HOUR
    midnight = (after + kst) // DAY * DAY - kst
    begin = midnight + hours * HOUR + minutes * 60.0
    return begin if begin > after else begin + DAY


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


ReadingTuple = tuple[datetime, str, str, float]  # ts, device, metric, value
EventTuple = tuple[datetime, str, str, str, float]  # ts, device, type, severity, confidence


def simulate(sim: Simulator, devices: Sequence[SimDevice], catalogue: Catalogue, start: float,
             end: float) -> tuple[list[ReadingTuple], list[EventTuple]]:
    """Every device's stored rows from *start* to *end*: (ts, device, metric, value) readings and
    (ts, device, type, severity, confidence) events, each key once."""
    kinds = catalogue.kinds.items()
    bounds = {k: {m.name: (m.min, m.max) for m in kind.metrics.values()} for k, kind in kinds}
    severities = {k: {e: s.severity for e, s in kind.events.items()} for k, kind in kinds}
    turns: list[tuple[float, SimDevice]] = []
    for kind in sorted({d.kind for d in devices}):
        of_kind = [d for d in devices if d.kind == kind]
        interval = float(catalogue.kinds[kind].interval_s)
        for i, d in enumerate(of_kind):
            t = start + interval * (i + 0.5) / len(of_kind)
            while t < end:
                turns.append((t, d))
                t += interval
    turns.sort(key=lambda x: (x[0], x[1].id))
    readings: dict[tuple[str, str, datetime], float] = {}
    events: dict[tuple[str, str, datetime], tuple[str, float]] = {}
    for t, d in turns:
        sim.transitions(t)
        for out in sim.report(d.id, t):
            channel = out.topic.rsplit("/", 1)[-1]
            try:
                doc = json.loads(out.payload)
            except ValueError:
                continue  # ingest dead-letters it
            if not isinstance(doc, dict) or _number(doc.get("ts")) is None:
                continue
            ts_s = float(doc["ts"]) / 1000.0
            if ts_s > t + FUTURE_TOLERANCE_S:
                continue
            ts = datetime.fromtimestamp(ts_s, UTC)
            if channel == "telemetry":
                for metric, (low, high) in bounds[d.kind].items():
                    value = _number(doc.get(metric))
                    if value is not None and low <= value <= high:
                        readings.setdefault((d.id, metric, ts), value)
            elif channel == "events":
                severity = severities[d.kind].get(str(doc.get("type")))
                if severity is not None:
                    confidence = _number(doc.get("confidence")) or 0.0
                    events.setdefault((d.id, str(doc["type"]), ts), (severity, confidence))
    return ([(ts, dev, m, v) for (dev, m, ts), v in readings.items()],
            [(ts, dev, ty, sv, c) for (dev, ty, ts), (sv, c) in events.items()])


def register(conn: SyncConn, catalogue: Catalogue, devices: Sequence[SimDevice], *,
             elderly: Sequence[str] = (), consent_at: datetime | None = None) -> None:
    """Register *devices* with their zones' areas and the welfare consent of the *elderly*
    households' meters, as `cityhub simulate --register` does."""
    keys = parse_keys(secrets.token_urlsafe(32))  # the tokens are never used
    add_missing(conn, catalogue, [(d.id, d.kind, d.zone, d.lat, d.lon) for d in devices], keys=keys)
    add_missing_areas(conn, camera_areas(d.zone for d in devices if d.kind == "cctv"))
    if elderly:
        record_many(conn, elderly, given_at=consent_at or datetime.now(UTC), given_by="resident (simulated)",
                    basis="simulated care programme enrolment form", actor="score")


def train_meters(conn: SyncConn, start: datetime, end: datetime) -> None:
    """What `cityhub analytics train --model meter-anomaly` does (analytics/train_cli.py)."""
    model, scores = meters_train.train(meters_train.history(conn, start, end))
    save_model(conn, meters_train.NAME, model, trained_from=start, trained_to=end, scores=scores,
               created_by="score")


@dataclass(slots=True)
class _Rows:
    """A run's rows in time order, copied into the hub as the simulated clock reaches them."""

    readings: list[ReadingTuple]
    events: list[EventTuple]
    at_reading: int = 0
    at_event: int = 0

    async def copy_until(self, conn: AsyncConn, until: datetime) -> None:
        end_r = bisect_left(self.readings, until, lo=self.at_reading, key=itemgetter(0))
        end_e = bisect_left(self.events, until, lo=self.at_event, key=itemgetter(0))
        cur = conn.cursor()
        if end_r > self.at_reading:
            async with cur.copy("COPY hub.telemetry (ts, device_id, metric, value) FROM STDIN") as copy:
                for row in self.readings[self.at_reading:end_r]:
                    await copy.write_row(row)
        if end_e > self.at_event:
            async with cur.copy("COPY hub.events (ts, device_id, type, severity, confidence) "
                                "FROM STDIN") as copy:
                for event in self.events[self.at_event:end_e]:
                    await copy.write_row(event)
        self.at_reading, self.at_event = end_r, end_e


async def evaluate(conn: AsyncConn, catalogue: Catalogue, devices: Iterable[str], rows: _Rows,
                   start: datetime, end: datetime, *, meter_scan: timedelta | None = None) -> int:
    """Rows stored slice by slice and each slice evaluated by the live service's evaluator, as
    if notified: nothing is in the hub before the simulated clock reaches it."""
    await rows.copy_until(conn, start)  # the history before the evaluation starts
    evaluator = Evaluator(conn, catalogue)
    await evaluator.refresh_rules(force=True)
    watched = frozenset(devices)
    changed = 0
    at = start
    next_scan = start + meter_scan if meter_scan is not None else end + SLICE
    while at < end:
        until = min(at + SLICE, end)
        await rows.copy_until(conn, until)
        r = TimeRange(at, until - timedelta(microseconds=1), watched)
        changed += await evaluator.telemetry(r)
        changed += await evaluator.events(r)
        changed += await apply(conn, evaluator.engine.tick(until), evaluator.agencies)
        if until >= next_scan:
            # The service scans the meters on its clock; here on the simulated one.
            changed += await evaluator.detectors.scan_meters(until)
            next_scan = until + (meter_scan or SLICE)
        at = until
    return changed


async def run_scenarios(url: str, catalogue: Catalogue, *, seeds: Sequence[int] = (7,),
                        runs: Sequence[Run] = DEFAULT_RUNS, now: datetime | None = None,
                        progress: Callable[[str], None] | None = None) -> Outcome:
    """Simulate, store, evaluate and score *runs* for each of *seeds* on the (scratch) database
    at *url*.

    The runs follow one another in simulated time (a day apart, each at its scenario's local
    start time), so that no detector reading the hub's recent history sees another run's rows.
    """
    outcome = Outcome([], [], [])
    span_days = len(seeds) * sum((r.warmup_h + r.hours) / 24.0 + 1.5 for r in runs)
    clock = anchor(now or datetime.now(UTC), span_days)
    first = last = datetime.fromtimestamp(clock, UTC)
    plan = [(seed, run) for seed in seeds for run in runs]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for n, (seed, run) in enumerate(plan):
            scenario = SCENARIOS[run.scenario]
            tag = run.scenario.replace("-", "") + (str(seed) if len(seeds) > 1 else "")
            devices = fleet(tag, run.kinds)
            # Half a day at least between two runs (and the warm-up of the next).
            begin = start_of(scenario, clock + run.warmup_h * HOUR + 12 * HOUR)
            finish = begin + run.hours * HOUR
            clock = finish
            sim = Simulator(devices, catalogue.kinds, replace(scenario, repeat_s=None), seed, begin)
            readings, events = simulate(sim, devices, catalogue, begin - run.warmup_h * HOUR, finish)
            sim.transitions(finish)
            outcome.records += [json.loads(r.to_json(f"score-{seed}")) for r in sim.truth]
            elderly = [d.id for d in devices
                       if d.kind == "smart_meter" and profile_of(d.id, seed) == "single_elderly"]
            with psycopg.connect(url, autocommit=True) as sync:
                register(sync, catalogue, devices, elderly=elderly,
                         consent_at=datetime.fromtimestamp(begin - run.warmup_h * HOUR - HOUR, UTC))
            # Evaluated from an hour before the scenario begins (the rules' windows fill).
            start_at = datetime.fromtimestamp(begin - HOUR, UTC)
            finish_at = datetime.fromtimestamp(finish, UTC)
            if n == 0:
                first = start_at
            last = finish_at
            scan = timedelta(hours=run.meter_scan_h) if "smart_meter" in run.kinds else None
            rows = _Rows(sorted(readings), sorted(events))
            await rows.copy_until(conn, start_at)
            if run.train_meters:
                with psycopg.connect(url, autocommit=True) as sync:
                    train_meters(sync, datetime.fromtimestamp(begin - run.warmup_h * HOUR, UTC), start_at)
            await evaluate(conn, catalogue, (d.id for d in devices), rows, start_at, finish_at,
                           meter_scan=scan)
            outcome.readings += len(readings)
            outcome.events += len(events)
            outcome.zones.update({d.id: d.zone for d in devices})
            if progress is not None:
                progress(f"{run.scenario} (seed {seed}): {len(readings)} readings and {len(events)} "
                         "events evaluated")
        outcome.injections = truth_io.injections(outcome.records, outcome.zones)
        outcome.alerts = await truth_io.alerts(conn, first, last)
    outcome.scores = score(outcome.injections, outcome.alerts, until=last)
    return outcome
