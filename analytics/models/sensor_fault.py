"""Sensor fault versus episode: is a station's reading the air, or the station? Pure.

Each pollutant reading of an air-quality station is compared with its neighbours'
(analytics/models/neighbours.py) latest trusted readings of the same metric: the station's
calibration line predicts its value from a neighbour's value ``m``, and the log ratio of
the reading to that prediction, in units of the station's usual spread, is its ``z`` against
that neighbour; the reading's ``z`` is the one closest to 0 (:func:`consensus_z`: it is as
far off as the neighbour most like it says)::

    z = (log(v + f) - log(a + b · m + f)) / scale

``a``, ``b`` and ``scale`` (the robust spread of the station's log residuals) come from the
trained ``sensor-fault`` model (analytics/models/sensor_fault_train.py: a Huber regression per
station and metric); without one, ``a = 0, b = 1`` and ``scale = FaultParams.default_scale``.
``f`` is a per-metric floor that keeps the noise of near-zero readings from looking like a fault.

Evidence of a fault, per station and metric:

* **stuck value**: the same value ``stuck_readings`` times over ``stuck_s`` while a
  neighbour's changed;
* **drift**: the median ``z`` over the last ``drift_window_s`` at least ``drift_z`` (a
  sustained offset; checked before spikes, so a drift that has grown large stays a drift);
* **spike / disagrees**: ``|z| ≥ spike_z`` at least ``spike_confirm`` times within
  ``spike_window_s`` - the station alone reads several times more (or less) than its
  neighbours; a real episode moves the neighbours too, so ``z`` stays small.

Evidence flags the station for ``hold_s``; while flagged, and for any single reading with
``|z| ≥ spike_z``, its pollutant readings are withheld from the pollution rules (they go
neither into a station's rules nor into its zone's means), so a spiking station raises one
"sensor fault suspected" alert instead of a stream of PM10 alerts. A flagged station's
readings are not used as anybody's neighbour either.

:class:`FaultDetector` is incremental: the live service feeds it each batch of rows, the
backtest (analytics/models/backtest.py) the whole history in order - one implementation.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analytics.models.neighbours import Site, neighbours
from analytics.rules import ReadingRow

KIND = "air_quality"
FLOORS: Mapping[str, float] = {"pm10": 5.0, "pm25": 3.0, "o3": 0.005, "no2": 0.005, "co": 0.1,
                               "so2": 0.002}


@dataclass(frozen=True, slots=True)
class FaultParams:
    metrics: tuple[str, ...] = ("pm10", "pm25", "o3", "no2", "co", "so2")
    spike_z: float = 6.0
    # Outliers within spike_window_s that make a spike: one alone is withheld, not alerted (the
    # neighbours' values may be a minute older than a sudden, real, city-wide change).
    spike_confirm: int = 2
    spike_window_s: float = 900.0
    drift_z: float = 3.0
    drift_window_s: float = 3600.0
    drift_min_readings: int = 20
    stuck_readings: int = 15
    stuck_s: float = 900.0
    min_neighbours: int = 1
    fresh_s: float = 900.0
    hold_s: float = 1800.0
    repeat_s: float = 600.0
    default_scale: float = 0.15
    min_scale: float = 0.1


@dataclass(frozen=True, slots=True)
class Calibration:
    intercept: float = 0.0
    slope: float = 1.0
    scale: float = 0.15


@dataclass(frozen=True, slots=True)
class SensorFaultModel:
    """What training fits: a calibration per (station, metric), and the parameters used."""

    calibrations: Mapping[tuple[str, str], Calibration]
    params: FaultParams = field(default_factory=FaultParams)


@dataclass(frozen=True, slots=True)
class Finding:
    ts: datetime
    device_id: str
    zone: str | None
    metric: str
    fault: str  # "spike", "stuck_value", "drift"
    value: float
    neighbour_median: float
    z: float
    neighbours: tuple[str, ...]

    @property
    def description(self) -> str:
        what = {"spike": "reads far from its neighbours (spikes)", "stuck_value": "is stuck on one value",
                "drift": "drifts away from its neighbours"}[self.fault]
        return f"{self.metric.upper()} {what}"


@dataclass(frozen=True, slots=True)
class Screened:
    kept: list[ReadingRow]
    findings: list[Finding]
    withheld: int


@dataclass(slots=True)
class _Series:
    last_ts: datetime | None = None
    last_value: float | None = None
    trusted: tuple[datetime, float] | None = None
    run: int = 0
    run_start: datetime | None = None
    changed_at: datetime | None = None
    zs: deque[tuple[datetime, float]] = field(default_factory=deque)
    outliers: deque[datetime] = field(default_factory=deque)


def z_score(value: float, neighbour_median: float, metric: str, cal: Calibration) -> float:
    floor = FLOORS.get(metric, 0.0)
    expected = max(cal.intercept + cal.slope * neighbour_median, 0.0)
    return (math.log(max(value, 0.0) + floor + 1e-9) - math.log(expected + floor + 1e-9)) / cal.scale


def consensus_z(value: float, neighbours: list[float], metric: str, cal: Calibration) -> float:
    """The reading's ``z`` against the neighbour most like it.

    A station is as far off as its closest neighbour says: a faulty station is far from every
    healthy neighbour, while a healthy one has at least one healthy neighbour close by. Against
    the neighbours' median instead, a zone of three stations judges each healthy one against
    the mean of a healthy and a faulty value, and a large enough fault made the healthy ones
    look faulty (and, once flagged, they left the faulty one without neighbours)."""
    return min((z_score(value, v, metric, cal) for v in neighbours), key=abs)


class FaultDetector:
    def __init__(self, sites: Mapping[str, Site], model: SensorFaultModel | None = None,
                 params: FaultParams | None = None) -> None:
        self.model = model
        self.params = params or (model.params if model else FaultParams())
        self._default = Calibration(scale=self.params.default_scale)
        self.sites: Mapping[str, Site] = {}
        self.neighbours: dict[str, tuple[str, ...]] = {}
        self.set_sites(sites)
        self._series: dict[tuple[str, str], _Series] = {}
        self.flagged_until: dict[str, datetime] = {}
        self._raised: dict[tuple[str, str], datetime] = {}

    def set_sites(self, sites: Mapping[str, Site]) -> None:
        self.sites = dict(sites)
        self.neighbours = neighbours(self.sites.values())

    def set_model(self, model: SensorFaultModel | None) -> None:
        """A new model takes effect from the next reading; the series' state stays."""
        self.model = model
        if model is not None:
            self.params = model.params
            self._default = Calibration(scale=self.params.default_scale)

    def flagged(self, device_id: str, ts: datetime) -> bool:
        until = self.flagged_until.get(device_id)
        return until is not None and ts < until

    def calibration(self, device_id: str, metric: str) -> Calibration:
        if self.model is None:
            return self._default
        return self.model.calibrations.get((device_id, metric), self._default)

    def feed(self, rows: Iterable[ReadingRow]) -> Screened:
        """Screen *rows* (oldest first): the rows the pollution rules may see, and findings."""
        kept: list[ReadingRow] = []
        findings: list[Finding] = []
        withheld = 0
        watched = frozenset(self.params.metrics)
        for row in rows:
            if row.kind != KIND or row.metric not in watched or row.device_id not in self.neighbours:
                kept.append(row)
                continue
            outlier, finding = self._reading(row)
            if finding is not None:
                findings.append(finding)
            if outlier or self.flagged(row.device_id, row.ts):
                withheld += 1
            else:
                kept.append(row)
        return Screened(kept, findings, withheld)

    def _neighbour_values(self, row: ReadingRow) -> list[float] | None:
        """The neighbours' latest trusted values of the metric (None: too few to judge)."""
        fresh = timedelta(seconds=self.params.fresh_s)
        values = []
        for other in self.neighbours.get(row.device_id, ()):
            s = self._series.get((other, row.metric))
            if s is None or s.trusted is None or self.flagged(other, row.ts):
                continue
            ts, value = s.trusted
            if abs(row.ts - ts) <= fresh:
                values.append(value)
        if len(values) < self.params.min_neighbours:
            return None
        return values

    def _neighbour_changed_since(self, row: ReadingRow, since: datetime) -> bool:
        for other in self.neighbours.get(row.device_id, ()):
            s = self._series.get((other, row.metric))
            if s is not None and s.changed_at is not None and s.changed_at > since:
                return True
        return False

    def _reading(self, row: ReadingRow) -> tuple[bool, Finding | None]:
        p = self.params
        s = self._series.setdefault((row.device_id, row.metric), _Series())
        if s.last_ts is not None and row.ts <= s.last_ts:
            return False, None  # a row seen already (catch-up overlap): nothing new
        if s.last_value is not None and row.value == s.last_value:
            s.run += 1
        else:
            s.run, s.run_start, s.changed_at = 1, row.ts, row.ts
        s.last_ts, s.last_value = row.ts, row.value
        values = self._neighbour_values(row)
        if values is None:
            s.trusted = (row.ts, row.value)
            return False, None
        z = consensus_z(row.value, values, row.metric, self.calibration(row.device_id, row.metric))
        s.zs.append((row.ts, z))
        horizon = row.ts - timedelta(seconds=p.drift_window_s)
        while s.zs and s.zs[0][0] < horizon:
            s.zs.popleft()
        outlier = abs(z) >= p.spike_z
        if outlier:
            s.outliers.append(row.ts)
        while s.outliers and (row.ts - s.outliers[0]).total_seconds() > p.spike_window_s:
            s.outliers.popleft()
        fault = None
        if s.run >= p.stuck_readings and s.run_start is not None \
                and (row.ts - s.run_start).total_seconds() >= p.stuck_s \
                and self._neighbour_changed_since(row, s.run_start):
            fault = "stuck_value"
        elif len(s.zs) >= p.drift_min_readings \
                and (s.zs[-1][0] - s.zs[0][0]).total_seconds() >= p.drift_window_s / 2 \
                and abs(statistics.median(z for _, z in s.zs)) >= p.drift_z:
            fault = "drift"  # sustained: a drift, even once it is as far off as a spike
        elif outlier and len(s.outliers) >= p.spike_confirm:
            fault = "spike"
        if fault is None:
            if not self.flagged(row.device_id, row.ts):
                s.trusted = (row.ts, row.value)
            return outlier, None
        was_flagged = self.flagged(row.device_id, row.ts)
        self.flagged_until[row.device_id] = row.ts + timedelta(seconds=p.hold_s)
        key = (row.device_id, fault)
        last = self._raised.get(key)
        if was_flagged and last is not None and (row.ts - last).total_seconds() < p.repeat_s:
            return True, None
        self._raised[key] = row.ts
        site = self.sites.get(row.device_id)
        return True, Finding(row.ts, row.device_id, site.zone if site else row.zone, row.metric, fault,
                             row.value, statistics.median(values), round(z, 2),
                             self.neighbours.get(row.device_id, ()))
