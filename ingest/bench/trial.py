"""One trial: a fresh broker, one consumer, the paced load, and what came of it.

The load comes from devices/loadgen.py, run as its own process: it is a fleet of devices
speaking raw MQTT, so it lives with the devices (hub/bench/__init__.py says why the rest of
the harness is in hub).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from devices.loadgen import LoadPlan, Report
from hub.bench.errors import BenchError
from hub.bench.histogram import Histogram
from hub.bench.processes import Child, LineFollower, cpu_seconds
from hub.cli.common import console
from hub.embedded import ThrowawayBroker
from ingest.bench.config import BenchConfig
from ingest.bench.consumers import Consumer, Snapshot
from ingest.bench.database import RowCount, backend_pids, count_readings
from ingest.bench.fleet import Fleet

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
PUBLISH_SLACK_S = 60.0  # beyond the planned duration, for a publisher held back by its window
STALL_TIMEOUT_S = 30.0  # no commit for this long after publishing: the rest counts as lost
DRAIN_TIMEOUT_S = 900.0
# Each look at ingest's /metrics costs it a few milliseconds of CPU, counted in its
# figures: look rarely, and often only near the end, whose time must be known closely.
_SLOW_POLL_S = 0.5
_FAST_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Trial:
    consumer: str
    published: int  # messages the broker acknowledged
    unacked: int  # sent but never acknowledged
    received: int  # deliveries the consumer counted
    stored: int  # messages it committed
    rejected: int
    readings_per_message: int
    rows: RowCount
    first_publish: float  # epoch seconds
    last_publish: float
    last_commit: float
    lag: Histogram  # publish → commit
    cpu: Mapping[str, float | None]  # CPU seconds over the trial: consumer, database, broker, publisher

    @property
    def elapsed(self) -> float:
        return max(self.last_commit - self.first_publish, 1e-9)

    @property
    def message_rate(self) -> float:
        return self.stored / self.elapsed

    @property
    def reading_rate(self) -> float:
        return self.rows.rows / self.elapsed

    @property
    def publish_rate(self) -> float:
        return self.published / max(self.last_publish - self.first_publish, 1e-9)

    @property
    def tail(self) -> float:
        """From the last publish to the last commit: near the latency when the consumer kept
        up, the time to work off the backlog when it did not."""
        return self.last_commit - self.last_publish

    def lag_quantile(self, q: float) -> float | None:
        # Interpolating inside a wide top bucket can overshoot; no reading can have waited
        # longer than the whole trial.
        value = self.lag.quantile(q)
        return None if value is None else min(value, self.elapsed)

    @property
    def expected_rows(self) -> int:
        return self.published * self.readings_per_message

    @property
    def lost_rows(self) -> int:
        return max(0, self.expected_rows - self.rows.distinct)

    @property
    def lost_messages(self) -> int:
        # A batch commits whole messages, so missing readings come in whole messages.
        return math.ceil(self.lost_rows / self.readings_per_message)

    @property
    def duplicates(self) -> int:
        """Deliveries beyond what was published: the broker's redeliveries."""
        return max(0, self.received - self.published)

    def cpu_per_message(self, role: str) -> float | None:
        """Microseconds of *role*'s CPU per stored message."""
        seconds = self.cpu.get(role)
        return None if seconds is None or not self.stored else seconds * 1e6 / self.stored

    def cpu_per_reading(self, role: str) -> float | None:
        per_message = self.cpu_per_message(role)
        return None if per_message is None else per_message / self.readings_per_message


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>10}"), TimeElapsedColumn(), console=console,
    )


def _cpu(pids: Mapping[str, Sequence[int | None]]) -> dict[str, float | None]:
    """CPU seconds of each role's processes together; None if one cannot be read."""
    out: dict[str, float | None] = {}
    for role, group in pids.items():
        seconds = [cpu_seconds(pid) for pid in group]
        out[role] = None if not group or None in seconds else sum(s for s in seconds if s)
    return out


def _cpu_delta(before: Mapping[str, float | None], after: Mapping[str, float | None]
               ) -> dict[str, float | None]:
    delta: dict[str, float | None] = {}
    for role, start in before.items():
        end = after.get(role)
        delta[role] = None if start is None or end is None else end - start
    return delta


class _Run:
    """Watches the publisher and the consumer, and draws the progress bars."""

    def __init__(self, consumer: Consumer, base: Snapshot, loadgen: Child,
                 reports: LineFollower[Report], total: int, progress: Progress) -> None:
        self.consumer = consumer
        self.base = base
        self.loadgen = loadgen
        self.reports = reports
        self.progress = progress
        name = consumer.name
        self._published = progress.add_task(f"{name}: published", total=total, rate="")
        self._stored = progress.add_task(f"{name}: stored", total=total, rate="")
        self.snapshot = base
        self._started = time.monotonic()

    def processed(self) -> int:
        s, b = self.snapshot, self.base
        return (s.stored - b.stored) + (s.rejected - b.rejected)

    def _look(self) -> Report | None:
        self.snapshot = self.consumer.snapshot()
        report = self.reports.latest
        elapsed = max(time.monotonic() - self._started, 1e-9)
        if report is not None:
            self.progress.update(self._published, completed=report.acked,
                                 rate=f"{report.acked / elapsed:,.0f}/s")
        processed = self.processed()
        self.progress.update(self._stored, completed=processed, rate=f"{processed / elapsed:,.0f}/s")
        return report

    def publish(self, deadline: float) -> Report:
        while True:
            report = self._look()
            if report is not None and report.done:
                break
            if not self.loadgen.alive():
                self.reports.join(2.0)  # its last line may still be in the pipe
                report = self.reports.latest
                if report is not None and report.done:
                    break
                self.loadgen.require_alive()
            self.consumer.require_alive()
            if time.monotonic() > deadline:
                raise BenchError("The load generator did not finish in time; see its log.")
            time.sleep(_SLOW_POLL_S)
        if report.error:
            raise BenchError(f"The load generator failed: {report.error}")
        return report

    def drain(self, target: int) -> None:
        """Until *target* messages are stored or rejected, the consumer stalls, or time is up."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        last, grew = self.processed(), time.monotonic()
        pause = _FAST_POLL_S
        while self.processed() < target:
            now = time.monotonic()
            if now - grew > STALL_TIMEOUT_S or now > deadline:
                log.warning("%s stored nothing more for %.0f s; %d of %d messages are missing",
                            self.consumer.name, now - grew, target - self.processed(), target)
                return
            time.sleep(pause)
            self.consumer.require_alive()
            self._look()
            done = self.processed()
            rate = (done - last) / pause
            # Look closely once the rest should take less than a slow pause.
            close = rate > 0 and (target - done) / rate < _SLOW_POLL_S
            pause = _FAST_POLL_S if close else _SLOW_POLL_S
            if done != last:
                last, grew = done, time.monotonic()


def run_trial(
    start_consumer: Callable[[ThrowawayBroker], Consumer], config: BenchConfig, fleet: Fleet,
    database_url: str, directory: Path,
) -> Trial:
    directory.mkdir(parents=True, exist_ok=True)
    with ThrowawayBroker(directory / "broker") as broker, start_consumer(broker) as consumer:
        consumer.wait_ready(READY_TIMEOUT_S)
        base = consumer.snapshot()
        pids = {"consumer": consumer.processes(), "broker": (broker.pid,),
                "database": backend_pids(database_url, consumer.application_name)}
        plan = LoadPlan("127.0.0.1", broker.port, f"cityhub-bench-loadgen-{consumer.name}",
                        config.rate, config.duration, config.window, config.readings_per_message,
                        fleet.devices, fleet.gateways)
        plan_file = directory / "plan.json"
        plan_file.write_text(plan.to_json(), encoding="utf-8")
        cpu_before = _cpu(pids)
        # Every reading of this trial is stamped later than this (its publish time).
        since = datetime.now(UTC)
        with _progress() as progress, Child(
            "load generator", [sys.executable, "-m", "devices.loadgen", str(plan_file)],
            directory / "loadgen.log", pipe_stdout=True,
        ) as loadgen:
            run = _Run(consumer, base, loadgen, LineFollower(loadgen.stdout, Report.from_json),
                       config.messages, progress)
            report = run.publish(time.monotonic() + config.duration + PUBLISH_SLACK_S)
            run.drain(report.acked)
        cpu = _cpu_delta(cpu_before, _cpu(pids))
        cpu["publisher"] = report.cpu_seconds
        end = run.snapshot
    rows = count_readings(database_url, consumer.table, fleet, distinct=not consumer.unique_rows,
                          since=since)
    return Trial(
        consumer=consumer.name, published=report.acked, unacked=report.sent - report.acked,
        received=end.received - base.received, stored=end.stored - base.stored,
        rejected=end.rejected - base.rejected, readings_per_message=config.readings,
        rows=rows, first_publish=report.first_publish, last_publish=report.last_publish,
        last_commit=end.committed_at, lag=end.lag.minus(base.lag), cpu=cpu,
    )

