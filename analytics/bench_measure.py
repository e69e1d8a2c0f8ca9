"""The measurements of `cityhub bench analytics` (analytics/bench.py prints and records them).

- rules on the live stream: the built-in rules' engine over a stream of station readings
  (pure), and the live service's evaluator over the same readings stored in the hub (reading
  them back, the sensor-fault screen, the rules, raising alerts);
- alert latency: the analytics service running, a reading committed with its notification as
  ingest does, the time until its alert row exists;
- smart meters: the meter model's training and a scan over 30 days of hourly profiles of
  10,000 meters (analytics/models; synthetic 15-minute consumption folded into hours, as the
  hub's hourly rollup holds it);
- a backtest of the PM2.5 advisory rule over a month of generated history for 1,000 stations.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import numpy as np
import pandas as pd
import psycopg

from analytics import backtest, queries
from analytics.engine import Engine, VersionedRule
from analytics.models import meters, meters_train
from analytics.ranges import TimeRange
from analytics.rules import ReadingRow
from analytics.service import Evaluator, run_analytics_async
from hub.catalogue import Catalogue
from hub.device_tokens import parse_keys
from hub.registry import add_missing
from hub.settings import load_settings

T = TypeVar("T")
# Generated history ends a week ago (inside the hub's partitions' retention), on a Monday.
_TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
START = _TODAY - timedelta(days=_TODAY.weekday() + 35)
AQ_METRICS = ("pm10", "pm25", "o3", "temperature")


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: str
    detail: str


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    out = call()
    return out, time.perf_counter() - started


def stations(n: int, per_zone: int = 10) -> list[tuple[str, str]]:
    return [(f"bench-aq-{i:05d}", f"bench-zone-{i // per_zone:04d}") for i in range(n)]


def station_rows(places: list[tuple[str, str]], start: datetime, minutes: int, step_s: int = 60,
                 seed: int = 1) -> list[ReadingRow]:
    """Readings of AQ_METRICS: a daily cycle, noise, and every tenth zone in a dust episode."""
    rng = np.random.default_rng(seed)
    out: list[ReadingRow] = []
    for k in range(minutes * 60 // step_s):
        ts = start + timedelta(seconds=k * step_s)
        hour = ts.hour + ts.minute / 60.0
        base = 40.0 + 25.0 * np.sin(2 * np.pi * (hour - 3) / 24)
        noise = rng.normal(1.0, 0.1, size=len(places))
        for (device, zone), f in zip(places, noise, strict=True):
            dusty = zone.endswith("0")
            pm10 = base * f + (180.0 if dusty else 0.0)
            out.extend(ReadingRow(ts, device, "air_quality", zone, m, v) for m, v in (
                ("pm10", pm10), ("pm25", 0.55 * pm10), ("o3", 0.03 * f), ("temperature", 12.0 + f)))
    return out


def rule_throughput(rules: list[VersionedRule], intervals: dict[str, float],
                    rows: list[ReadingRow]) -> Figure:
    engine = Engine(rules, intervals)
    applicable = sum(1 for r in rows for v in rules
                     if v.spec.kind != "event_map" and v.spec.metric == r.metric
                     and v.spec.device_kind in (None, r.kind))
    _, seconds = timed(lambda: engine.feed(rows))
    return Figure("rule evaluations (engine)", f"{applicable / seconds:,.0f} /s",
                  f"{len(rows):,} readings ({len(rows) / seconds:,.0f} /s) of {len(rules)} built-in rules, "
                  f"{applicable:,} rule evaluations in {seconds:.2f} s")


async def _evaluator_pass(url: str, catalogue: Catalogue, start: datetime, end: datetime) -> float:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        evaluator = Evaluator(conn, catalogue)
        await evaluator.refresh_rules(force=True)
        started = time.perf_counter()
        at = start
        while at < end:  # one notification a second's worth of the stream
            until = min(at + timedelta(seconds=60), end)
            await evaluator.telemetry(TimeRange(at, until - timedelta(microseconds=1), None))
            at = until
        return time.perf_counter() - started


def live_throughput(url: str, catalogue: Catalogue, rows: list[ReadingRow]) -> Figure:
    with psycopg.connect(url, autocommit=True) as conn:
        places = sorted({(r.device_id, r.zone or "") for r in rows})
        add_missing(conn, catalogue, [(d, "air_quality", z, None, None) for d, z in places],
                    keys=parse_keys("bench-analytics-throwaway-token-key-0123456789"))
        with conn.cursor().copy("COPY hub.telemetry (ts, device_id, metric, value) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((r.ts, r.device_id, r.metric, r.value))
    start, end = rows[0].ts, rows[-1].ts + timedelta(seconds=1)
    seconds = asyncio.run(_evaluator_pass(url, catalogue, start, end))
    return Figure("readings through the live evaluator", f"{len(rows) / seconds:,.0f} /s",
                  f"{len(rows):,} readings of {len(places):,} stations read back from the hub, screened "
                  f"for sensor faults, evaluated and their alerts raised, in {seconds:.1f} s")


def alert_latency(url: str, catalogue: Catalogue, samples: int) -> Figure:
    """Commit of a reading (with ingest's notification) → its alert row, the service running."""
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    settings = load_settings({"CITYHUB_DATABASE_URL": url})
    thread = threading.Thread(target=lambda: loop.run_until_complete(run_analytics_async(settings, stop)),
                              daemon=True)
    thread.start()
    latencies: list[float] = []
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            keys = parse_keys("bench-analytics-throwaway-token-key-0123456789")
            # The first reading waits for the service to start (imports, catch-up); not counted.
            for n in range(samples + 1):
                device, zone = f"bench-lat-{n:04d}", f"bench-lat-zone-{n:04d}"
                add_missing(conn, catalogue, [(device, "air_quality", zone, None, None)], keys=keys)
                ts = datetime.now(UTC)
                with conn.transaction():
                    conn.execute("INSERT INTO hub.telemetry (ts, device_id, metric, value) "
                                 "VALUES (%s, %s, 'o3', 0.2)", (ts, device))
                    conn.execute("SELECT pg_notify('hub_telemetry', %s)", (json.dumps(
                        {"from": ts.isoformat(), "to": ts.isoformat(), "devices": [device]}),))
                committed = time.perf_counter()
                while conn.execute("SELECT 1 FROM hub.alerts WHERE device_id = %s",
                                   (device,)).fetchone() is None:
                    if time.perf_counter() - committed > (120 if n == 0 else 10):
                        raise TimeoutError(f"no alert for {device} in time")
                    time.sleep(0.0005)
                if n > 0:
                    latencies.append(1000 * (time.perf_counter() - committed))
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
    p95 = sorted(latencies)[max(0, round(0.95 * len(latencies)) - 1)]
    return Figure("alert latency (commit → alert row)", f"{statistics.median(latencies):.1f} ms median",
                  f"p95 {p95:.1f} ms, max {max(latencies):.1f} ms over {len(latencies)} readings, each "
                  "raising the ozone advisory; includes the 0.5 ms polling of this measurement")


def meter_hours(n_meters: int, days: int, seed: int = 2) -> pd.DataFrame:
    """Hourly profiles (meters.HOURLY_COLUMNS) of *n_meters* households, 4 readings an hour."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(START, periods=days * 24, freq="h", tz=UTC)
    local = ((hours.hour + 9) % 24).to_numpy()
    shape = 0.3 + 0.8 * np.exp(-0.5 * ((local - 8) / 1.5) ** 2) + 1.2 * np.exp(-0.5 * ((local - 20) / 2) ** 2)
    scale = rng.uniform(0.3, 1.5, size=n_meters)
    kw = (scale[:, None] * shape[None, :] * rng.normal(1.0, 0.15, size=(n_meters, len(hours)))).clip(0.02)
    energy = np.cumsum(kw, axis=1) + rng.uniform(2000, 40000, size=(n_meters, 1))
    devices = np.repeat([f"bench-meter-{i:05d}" for i in range(n_meters)], len(hours))
    return pd.DataFrame({
        "device_id": devices, "zone": np.repeat([f"zone-{i % 25}" for i in range(n_meters)], len(hours)),
        "hour": np.tile(hours, n_meters), "kw": kw.ravel(), "n": 4, "v_mean": 220.0, "v_min": 217.0,
        "e_min": (energy - kw).ravel(), "e_max": energy.ravel()})


def meter_model(n_meters: int, days: int) -> list[Figure]:
    frame, made = timed(lambda: meter_hours(n_meters, days))
    (model, _scores), trained = timed(lambda: meters_train.train(frame))
    now = (START + timedelta(days=days)).replace(tzinfo=UTC)
    recent = frame[frame["hour"] >= pd.Timestamp(now) - pd.Timedelta(hours=27)]
    findings, scanned = timed(lambda: meters.scan(recent, now, {}, model.params, model.baselines))
    what = (f"{n_meters:,} meters × {days} days ({len(frame):,} hourly profile rows, "
            f"generated in {made:.1f} s)")
    return [Figure("meter model: training", f"{trained:.1f} s", what),
            Figure("meter model: scoring (one scan)", f"{scanned:.1f} s",
                   f"the last 27 h of {n_meters:,} meters against their baselines; "
                   f"{len(findings)} finding(s)")]


def pm25_frame(places: list[tuple[str, str]], days: int, step_s: int, seed: int = 3) -> pd.DataFrame:
    """A month of PM2.5 (backtest.READING_COLUMNS): a daily cycle, noise, and every tenth zone
    in a two-day episode over the advisory level."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(START, periods=days * 86_400 // step_s, freq=f"{step_s}s", tz=UTC)
    hour = (times.hour + times.minute / 60.0).to_numpy()
    base = 22.0 + 14.0 * np.sin(2 * np.pi * (hour - 3) / 24)
    values = base[None, :] * rng.normal(1.0, 0.1, size=(len(places), len(times)))
    offset = (times - pd.Timestamp(START)).total_seconds().to_numpy()
    episode = (offset >= 10 * 86_400) & (offset < 12 * 86_400)
    dusty = np.array([zone.endswith("0") for _d, zone in places])
    values[np.ix_(dusty, episode)] += 110.0
    return pd.DataFrame({
        "ts": np.tile(times, len(places)), "device_id": np.repeat([d for d, _z in places], len(times)),
        "kind": "air_quality", "zone": np.repeat([z for _d, z in places], len(times)),
        "metric": "pm25", "value": values.ravel()})


def backtest_month(rule: VersionedRule, intervals: dict[str, float], n_stations: int, days: int,
                   step_s: int) -> Figure:
    frame, made = timed(lambda: pm25_frame(stations(n_stations), days, step_s))
    end = START + timedelta(days=days)
    found, seconds = timed(lambda: backtest.run(rule, frame, intervals, start=START, end=end))
    return Figure(f"backtest of {rule.spec.id}", f"{seconds:.1f} s",
                  f"{n_stations:,} stations × {days} days, a reading every {step_s // 60} min "
                  f"({len(frame):,} rows, generated in {made:.1f} s); {len(found)} alert(s) it would raise")


async def builtin_rules(url: str) -> list[VersionedRule]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await queries.load_rules(conn)


def rules_of(url: str) -> list[VersionedRule]:
    return asyncio.run(builtin_rules(url))

