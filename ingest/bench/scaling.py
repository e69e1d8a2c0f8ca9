"""What more ingest workers gave on this machine, and what more cores would give.

The model is arithmetic on the CPU each part of the path spent per stored message in the
trial with the most workers (so the cost of sharing the stream is in it):

- the hub's CPU per message is ingest (every worker process) + PostgreSQL (the backends of
  ingest's connections) + the broker; on *C* cores given to the hub alone the CPU allows
  ``C / (ingest + database + broker)`` messages a second;
- one ingest worker plans in one Python thread, so it uses at most about one core: the
  cores ingest needs at that rate is the number of workers to run;
- Mosquitto runs on one thread, so one Mosquitto passes at most ``1 / broker`` messages a
  second whatever the cores; an EMQX cluster spreads that cost over its nodes' cores
  (assumed here at Mosquitto's cost per message, which is an estimate, not a measurement).

It leaves out what the trials could not see: the database's own background processes
(WAL writer, checkpointer, autovacuum), disks, the network between machines, and the
publishers, which in a city are the devices and run elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from ingest.bench.trial import Trial

CORES = (4, 8, 16)
_US = 1e6


@dataclass(frozen=True, slots=True)
class Costs:
    """CPU microseconds per stored message."""

    ingest: float
    database: float
    broker: float
    publisher: float

    @property
    def hub(self) -> float:
        return self.ingest + self.database + self.broker

    @classmethod
    def of(cls, trial: Trial) -> Costs | None:
        values = [trial.cpu_per_message(role) for role in ("consumer", "database", "broker",
                                                            "publisher")]
        if any(v is None for v in values):
            return None
        ingest, database, broker, publisher = (float(v or 0.0) for v in values)
        return cls(ingest, database, broker, publisher)


@dataclass(frozen=True, slots=True)
class Projection:
    cores: int
    rate: float  # messages/s the hub's CPU allows, the broker scaling with the cores (EMQX)
    mosquitto_rate: float  # the same with one Mosquitto among the cores
    workers: int  # ingest processes to run at that rate
    ingest_cores: float
    database_cores: float
    broker_cores: float

    @property
    def saturates(self) -> str:
        """What runs out first as the load grows on this many cores."""
        if self.mosquitto_rate < self.rate:
            return "one Mosquitto (one core): EMQX or more brokers needed"
        shares = {"ingest CPU per message": self.ingest_cores,
                  "PostgreSQL CPU per row": self.database_cores,
                  "broker CPU per message": self.broker_cores}
        return "all cores; largest share: " + max(shares, key=lambda k: shares[k])


def project(costs: Costs, cores: int) -> Projection:
    rate = cores * _US / costs.hub
    mosquitto = min(rate, _US / costs.broker) if costs.broker > 0 else rate
    ingest_cores = rate * costs.ingest / _US
    return Projection(
        cores=cores, rate=rate, mosquitto_rate=mosquitto,
        workers=max(1, math.ceil(ingest_cores - 1e-9)),
        ingest_cores=ingest_cores, database_cores=rate * costs.database / _US,
        broker_cores=rate * costs.broker / _US,
    )


def projections(costs: Costs, cores: Sequence[int] = CORES) -> list[Projection]:
    return [project(costs, c) for c in cores]


def this_machine(costs: Costs, cores: int) -> float:
    """Messages/s the same arithmetic predicts for this machine, where the publisher shares
    the cores: to compare with what the trials measured."""
    return cores * _US / (costs.hub + costs.publisher)


# Storing less than this share of what was published means a backlog formed: the trial
# measured the consumer's capacity; above it, the consumer kept up and the publisher's pace
# (on a busy machine, lower than asked) is what it shows.
_KEPT_UP = 0.95


def saturated(trial: Trial) -> bool:
    return trial.message_rate < _KEPT_UP * trial.publish_rate


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def measured_rows(by_workers: Sequence[tuple[int, Trial]]) -> list[tuple[str, ...]]:
    """Label, then one value per worker count."""
    def cpu(role: str) -> list[str]:
        return [_num(t.cpu_per_message(role), 1) for _, t in by_workers]

    first = by_workers[0][1].message_rate or 1.0
    return [
        ("stored msg/s", *(_num(t.message_rate) for _, t in by_workers)),
        ("vs the first count", *(f"{t.message_rate / first:.2f}×" for _, t in by_workers)),
        ("publisher rate (msg/s)", *(_num(t.publish_rate) for _, t in by_workers)),
        ("capacity measured (a backlog formed)",
         *("yes" if saturated(t) else "no: it kept up" for _, t in by_workers)),
        ("lost messages", *(_num(t.lost_messages) for _, t in by_workers)),
        ("duplicate deliveries", *(_num(t.duplicates) for _, t in by_workers)),
        ("last publish → last commit (s)", *(_num(t.tail, 2) for _, t in by_workers)),
        ("publish → commit p99 (ms)",
         *(_num(None if (q := t.lag_quantile(0.99)) is None else q * 1000) for _, t in by_workers)),
        ("CPU µs/msg, ingest (all workers)", *cpu("consumer")),
        ("CPU µs/msg, PostgreSQL backends", *cpu("database")),
        ("CPU µs/msg, broker", *cpu("broker")),
        ("CPU µs/msg, publisher", *cpu("publisher")),
    ]


def markdown(by_workers: Sequence[tuple[int, Trial]], machine_cores: int,
             load_before: float = 0.0) -> str:
    """The measured table, and the model, for docs/benchmarks.md."""
    counts = [n for n, _ in by_workers]
    busy = (f" The machine's load average was {load_before:.1f} when the run began: other work "
            f"shared its {machine_cores} cores, and the throughput figures show it more than the "
            "CPU per message." if load_before > 0.5 else "")
    lines = ["", f"Ingest workers (`--workers`), one trial each, in that order.{busy}", "",
             "| figure | " + " | ".join(f"{n} worker{'s' if n > 1 else ''}" for n in counts) + " |",
             "|---|" + "---:|" * len(counts)]
    lines += [f"| {' | '.join(row)} |" for row in measured_rows(by_workers)]
    most, trial = by_workers[-1]
    costs = Costs.of(trial)
    if costs is None:
        lines += ["", "(No model: a process's CPU time could not be read.)"]
        return "\n".join(lines) + "\n"
    full = [t.message_rate for _, t in by_workers if saturated(t)]
    measured = (f"{max(full):,.0f} measured" if full else
                "not measured (every trial kept up with its publisher: offer more)")
    lines += [
        "",
        f"Model from the costs measured with {most} worker{'s' if most > 1 else ''} "
        f"(ingest {costs.ingest:.1f} + PostgreSQL {costs.database:.1f} + broker "
        f"{costs.broker:.1f} = {costs.hub:.1f} µs of CPU per message; the publisher's "
        f"{costs.publisher:.1f} µs are the devices' and run elsewhere). Check on this "
        f"machine, publisher included: {machine_cores} cores × 10⁶ / "
        f"{costs.hub + costs.publisher:.1f} µs = {this_machine(costs, machine_cores):,.0f} msg/s "
        f"predicted, {measured}.",
        "",
        "| cores for the hub | msg/s (broker scales: EMQX) | msg/s with one Mosquitto | ingest workers "
        "| cores: ingest / PostgreSQL / broker | saturates first |",
        "|---:|---:|---:|---:|---|---|",
    ]
    for p in projections(costs):
        lines.append(f"| {p.cores} | {p.rate:,.0f} | {p.mosquitto_rate:,.0f} | {p.workers} | "
                     f"{p.ingest_cores:.1f} / {p.database_cores:.1f} / {p.broker_cores:.1f} | "
                     f"{p.saturates} |")
    return "\n".join(lines) + "\n"


def table(by_workers: Sequence[tuple[int, Trial]]) -> Table:
    out = Table("figure", *(f"{n} worker(s)" for n, _ in by_workers), title="Ingest workers")
    for row in measured_rows(by_workers):
        out.add_row(*row)
    return out
