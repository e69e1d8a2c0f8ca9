"""The figures of a bench run: a rich table for the terminal, a section of docs/benchmarks.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from hub import doc_sections
from ingest.bench import scaling
from ingest.bench.runner import BenchResult
from ingest.bench.trial import Trial

SECTION = "Ingest"
TARGET_RATE = 15_000.0
TARGET_POINTS = 200_000.0
TARGET_RATIO = 1.2
TARGET_CPU_US = 40.0

INTRO = f"""\
`cityhub bench ingest` publishes a paced load from a separate process (a raw-socket
MQTT 3.1.1 publisher, QoS 1, `devices/loadgen.py`) through a throw-away Mosquitto,
once into a naive consumer (paho with automatic acknowledgements, `json.loads`, COPY
into a plain table, no validation) and once into the real ingest service (validation,
registry, acknowledgement only after commit), each on a fresh broker, into a
throw-away database. With `--database-url` it uses that database instead and removes
the run's devices and rows afterwards; on TimescaleDB it deletes them from the
hypertable only, and the continuous aggregate `telemetry_1m` drops their buckets at
its next refresh.

- *stored msg/s* and *data points/s*: what was committed, over the time from the first
  publish to the last commit. It cannot exceed the offered rate (`--rate`): a consumer
  that keeps up shows a little less than that, and a short *last publish → last commit*.
  To measure capacity, and for a meaningful ingest / naive ratio, offer more than the
  consumers can take; the backlog waits in the broker and the figure is the drain rate.
- *lost*: readings acknowledged by the broker but missing from the table.
- *duplicate deliveries*: deliveries beyond the published count (redeliveries); the
  hub's key (device, metric, ts) keeps them out of the table.
- *publish → commit*: from each message's `ts` (its publish time) to the commit that
  stored it, interpolated from the ingest histogram's buckets (the naive consumer
  counts into the same buckets).
- *CPU µs/message*: user + system CPU time of a process over the trial, per message
  stored; for PostgreSQL, all the backends of the consumer's connections (ingest has
  one per writer and one for device lookups).
- A target marked *(offered no more)* or *(both kept up)* was not tested: the offered
  load was not above it, or low enough for the naive consumer too.
- `--workers 1,2` runs one ingest trial for each count of worker processes
  (`cityhub ingest --workers N`, docs/ingest.md), each on a fresh broker, in the order
  given, the later ones on a table holding the earlier ones' rows. Ingest's CPU is that of
  the supervisor and every worker, PostgreSQL's that of all their connections' backends.
  From the CPU per message of the trial with the most workers, a model projects what 4,
  8 and 16 cores would take and which part saturates first (ingest/bench/scaling.py).

Targets for ingest: at least {TARGET_RATE:,.0f} stored messages/s of single readings
with acknowledgement after commit and nothing lost; at least {TARGET_RATIO}× the naive
consumer; at most {TARGET_CPU_US:.0f} µs of ingest CPU per message; gateway batches of
100 readings at least {TARGET_POINTS:,.0f} data points/s.
"""


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    naive: str
    ingest: str
    target: str


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:,.0f}"


def _goal(text: str, met: bool, *, untested: str = "") -> str:
    """The target and whether it was met; *untested* says why a miss proves nothing."""
    if not met and untested:
        return f"{text} ({untested})"
    return f"{text} {'✓' if met else '✗'}"


# A consumer within this share of the offered rate kept up with it.
KEPT_UP = 0.95


def figures(result: BenchResult) -> list[Figure]:
    config, naive, ingest = result.config, result.naive, result.ingest
    single = config.readings == 1

    def row(label: str, value: Callable[[Trial], str], target: str = "") -> Figure:
        return Figure(label, value(naive) if naive else "", value(ingest), target)

    rows = [
        row("messages published (acked)", lambda t: _num(t.published)),
        row("messages stored", lambda t: _num(t.stored)),
        row("data points stored", lambda t: _num(t.rows.rows)),
        row("lost messages (readings)",
            lambda t: f"{t.lost_messages:,} ({t.lost_rows:,})",
            _goal("0", ingest.lost_rows == 0)),
        row("duplicate deliveries", lambda t: _num(t.duplicates)),
        row("duplicate rows", lambda t: _num(t.rows.rows - t.rows.distinct)),
        row("rejected (dead letters)", lambda t: _num(t.rejected)),
        row("publisher rate (msg/s)", lambda t: _num(t.publish_rate)),
        row("first publish → last commit (s)", lambda t: _num(t.elapsed, 2)),
        row("last publish → last commit (s)", lambda t: _num(t.tail, 2)),
        row("stored msg/s", lambda t: _num(t.message_rate),
            _goal(f"≥ {TARGET_RATE:,.0f}", ingest.message_rate >= TARGET_RATE,
                  untested="offered no more" if config.rate <= TARGET_RATE else "")
            if single else ""),
        row("stored data points/s", lambda t: _num(t.reading_rate),
            _goal(f"≥ {TARGET_POINTS:,.0f}", ingest.reading_rate >= TARGET_POINTS,
                  untested="offered no more" if config.rate * config.readings <= TARGET_POINTS else "")
            if config.gateway_batch else ""),
    ]
    if naive is not None and naive.message_rate > 0:
        ratio = ingest.message_rate / naive.message_rate
        # When the naive consumer keeps up too, the ratio measures the load, not them.
        both_kept_up = naive.message_rate >= KEPT_UP * config.rate
        rows.append(Figure("ingest / naive (msg/s)", "", f"{ratio:.2f}×",
                           _goal(f"≥ {TARGET_RATIO}×", ratio >= TARGET_RATIO,
                                 untested="both kept up" if both_kept_up else "")))
    cpu = ingest.cpu_per_message("consumer")
    rows += [
        row("publish → commit p50 (ms)", lambda t: _ms(t.lag_quantile(0.5))),
        row("publish → commit p99 (ms)", lambda t: _ms(t.lag_quantile(0.99))),
        row("CPU µs/msg, consumer process", lambda t: _num(t.cpu_per_message("consumer"), 1),
            _goal(f"≤ {TARGET_CPU_US:.0f}", cpu is not None and cpu <= TARGET_CPU_US)
            if single else ""),
    ]
    if not single:
        rows.append(row("CPU µs/data point, consumer",
                        lambda t: _num(t.cpu_per_reading("consumer"), 2)))
    rows += [
        row("CPU µs/msg, its PostgreSQL backends", lambda t: _num(t.cpu_per_message("database"), 1)),
        row("CPU µs/msg, broker", lambda t: _num(t.cpu_per_message("broker"), 1)),
        row("CPU µs/msg, publisher", lambda t: _num(t.cpu_per_message("publisher"), 1)),
    ]
    return rows


def table(result: BenchResult) -> Table:
    out = Table("figure", "naive", "ingest", "target", title=result.config.title)
    for f in figures(result):
        out.add_row(f.label, f.naive, f.ingest, f.target)
    return out


def markdown(result: BenchResult, command: str) -> str:
    m = result.machine
    lines = [
        f"- date: {result.finished:%Y-%m-%d %H:%M} UTC",
        f"- machine: {m.hardware}",
        f"- software: {m.software}",
        f"- command: `{command}`",
        "",
        "| figure | naive | ingest | target |",
        "|---|---:|---:|---|",
        *(f"| {f.label} | {f.naive} | {f.ingest} | {f.target} |" for f in figures(result)),
    ]
    text = "\n".join(lines) + "\n"
    if len(result.by_workers) > 1:
        text += scaling.markdown(result.by_workers, m.cpus, result.load_before)
    return text


def update_document(text: str, subsection: str, body: str) -> str:
    """*text* with its "## Ingest" section rewritten: the introduction anew, the
    subsection titled *subsection* replaced (or added), other subsections and all
    other sections kept as they were."""
    if not text.strip():
        text = ("# Benchmarks\n\nFigures written by `cityhub bench …`; each command rewrites "
                "its own section.\n")
    head, sections = doc_sections.split(text, "## ")
    old = next((b for t, b in sections if t == SECTION), "")
    _intro, subsections = doc_sections.split(old, "### ")
    new = doc_sections.join(INTRO, "### ", doc_sections.replace_part(subsections, subsection, body))
    return doc_sections.join(head, "## ", doc_sections.replace_part(sections, SECTION, new)) + "\n"


def write_docs(path: Path, result: BenchResult, command: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(update_document(text, result.config.title, markdown(result, command)),
                    encoding="utf-8")
