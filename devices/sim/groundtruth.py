"""Ground truth: every injected anomaly and scenario event, one JSON object a line.

A record holds ``run`` (one id per simulator run), ``scenario``, ``label``,
``device_ids``, ``start`` and ``end`` (ISO-8601 UTC of simulated time; equal for a
one-shot fault), and ``details`` (the parameters, and what the hub should make of it).
The file is appended to and flushed record by record, so analytics can score a run
that is still going — or one that was killed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from devices.sim.clock import iso


@dataclass(frozen=True, slots=True)
class TruthRecord:
    scenario: str
    label: str
    device_ids: tuple[str, ...]
    start: float
    end: float
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self, run: str) -> str:
        return json.dumps({
            "run": run, "scenario": self.scenario, "label": self.label,
            "device_ids": list(self.device_ids), "start": iso(self.start), "end": iso(self.end),
            "details": dict(self.details),
        }, ensure_ascii=False)


class GroundTruthWriter:
    """Appends records to a JSONL file, flushing each."""

    def __init__(self, path: Path, run: str) -> None:
        self.path = path
        self.run = run
        self.written = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def write(self, records: Sequence[TruthRecord]) -> None:
        for record in records:
            self._file.write(record.to_json(self.run) + "\n")
        if records:
            self._file.flush()
            self.written += len(records)

    def close(self) -> None:
        self._file.close()


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The records of a ground-truth file (for scoring and tests)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
