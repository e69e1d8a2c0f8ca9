"""The Console section of docs/benchmarks.md, from one run's figures. Pure."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime

from ops_console.bench.measure import ALERT_GAP_S, API_CALLS, Outcome

HEADING = "## Console"
TARGET_MS = 1000.0


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank *q* quantile of *values*; NaN when there are none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


@dataclass(frozen=True, slots=True)
class Run:
    clients: int
    alerts: int
    background_rate: float
    zone: str
    outcome: Outcome
    api: dict[str, list[float]]

    @property
    def expected(self) -> int:
        return self.clients * self.alerts

    def ms(self, values: list[float], q: float) -> float:
        return percentile(values, q) * 1000

    def summary(self) -> list[str]:
        o = self.outcome
        lines = [
            f"alert received by {len(o.published)}/{self.expected} client×alert pairs",
            f"publish → alert on a client: p50 {self.ms(o.published, 0.5):.0f} ms, "
            f"p99 {self.ms(o.published, 0.99):.0f} ms",
            f"commit → alert on a client: p50 {self.ms(o.committed, 0.5):.0f} ms, "
            f"p99 {self.ms(o.committed, 0.99):.0f} ms",
            f"publish → commit: p50 {self.ms(o.to_commit, 0.5):.0f} ms, "
            f"p99 {self.ms(o.to_commit, 0.99):.0f} ms",
            f"background readings published: {o.background}; readings messages per client: "
            f"{min(o.readings_seen, default=0)}–{max(o.readings_seen, default=0)}",
        ]
        lines += [f"GET {path}: p50 {self.ms(t, 0.5):.1f} ms, p99 {self.ms(t, 0.99):.1f} ms"
                  for path, t in self.api.items()]
        return lines


def render(run: Run) -> str:
    o = run.outcome
    p99 = run.ms(o.published, 0.99)
    ok = "✓" if p99 < TARGET_MS and len(o.published) == run.expected else "✗"
    lines = [
        HEADING, "",
        f"`cityhub bench console --clients {run.clients} --alerts {run.alerts} "
        f"--background-rate {run.background_rate:g}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}; "
        "Mosquitto, ingest, analytics, console, PostgreSQL and the clients on one machine. "
        f"Each of {run.clients} WebSocket clients subscribes to `alerts` and "
        f"`readings:zone:{run.zone}`. The bench publishes an over-threshold PM10 reading over MQTT "
        "(QoS 1) as a device would; the clock starts just before that publish and stops when each "
        "client receives the raised alert: Mosquitto delivers the reading to the real ingest service, "
        "which validates it, commits its batch and notifies `hub_telemetry`; analytics evaluates the "
        "rule, writes the alert and notifies `hub_alerts`; the console fans it out. "
        f"Alerts are raised one at a time, {ALERT_GAP_S:g} s apart, while devices of the same zone "
        f"publish below-threshold readings at {run.background_rate:g} a second, which reach every "
        "client on the zone channel. The commit is taken as the moment the bench's own LISTEN on "
        "`hub_telemetry` hears of the reading; the two \"of which\" rows split the latency at that "
        "moment (their percentiles need not add up).",
        "",
        "| figure | value | target |", "|---|---:|---|",
        f"| alert deliveries (client × alert) | {len(o.published):,} of {run.expected:,} | all |",
        f"| reading published → alert on a client, p50 (ms) | {run.ms(o.published, 0.5):.0f} | |",
        f"| reading published → alert on a client, p99 (ms) | {p99:.0f} | < {TARGET_MS:.0f} {ok} |",
        f"| of which published → committed by ingest, p50 / p99 (ms) | "
        f"{run.ms(o.to_commit, 0.5):.0f} / {run.ms(o.to_commit, 0.99):.0f} | |",
        f"| of which committed → alert on a client, p50 / p99 (ms) | "
        f"{run.ms(o.committed, 0.5):.0f} / {run.ms(o.committed, 0.99):.0f} | |",
        f"| zone readings messages per client (fewest–most) | "
        f"{min(o.readings_seen, default=0):,}–{max(o.readings_seen, default=0):,} | > 0 |",
    ]
    for path, times in run.api.items():
        lines.append(f"| `GET {path}` p50 / p99 (ms), {API_CALLS} calls | "
                     f"{run.ms(times, 0.5):.1f} / {run.ms(times, 0.99):.1f} | |")
    return "\n".join(lines) + "\n"
