"""The world the ingest properties run in, and what every outcome must satisfy.

The catalogue, devices, keys and time window are the unit tests' (tests/ingest/test_units.py);
the reason codes a dead letter may carry are read from the table in docs/ingest.md, so a
code that is not documented fails here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest.messages import DEAD_LETTER_CODES
from ingest.pipeline import BatchPlan, Decoded, Planner, decode
from tests.ingest.test_units import CATALOGUE, DEVICES, KEYS, MS, NOW, WINDOW, message, planner

__all__ = ["CATALOGUE", "DEVICES", "KEYS", "MS", "NOW", "WINDOW", "message"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ingest.md"
# FIWARE attributes refused one by one while the rest of the entity is stored.
PARTIAL_CODES = frozenset({"out_of_range", "bad_unit", "bad_value"})
PLANNER: Planner = planner()


def documented_codes(path: Path = DOCS) -> frozenset[str]:
    """The codes in the first column of docs/ingest.md's table of rejections."""
    table = path.read_text(encoding="utf-8").split("| code | meaning |", 1)[1]
    codes: set[str] = set()
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        codes.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return frozenset(codes)


DOCUMENTED = documented_codes()


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def no_errors_logged() -> Iterator[None]:
    """Fails if ingest logs an error inside: a failure of ours that was caught is still one."""
    handler, logger = _Errors(), logging.getLogger("ingest")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert handler.messages == [], handler.messages


def plan_one(topic: str, payload: bytes | object) -> tuple[Decoded, BatchPlan]:
    """decode and plan one message; nothing may escape and nothing be logged as an error."""
    with no_errors_logged():
        item = decode(message(topic, payload))
        return item, PLANNER.plan([item], DEVICES, WINDOW)


def check_outcome(item: Decoded, plan: BatchPlan) -> None:
    """The message is stored, or a dead letter with a documented code, never both but for
    a FIWARE entity's refused attributes; a device learns why on its errors topic."""
    codes = [row.code for row in plan.dead_letters]
    assert set(codes) <= DOCUMENTED, f"undocumented code in {codes}"
    assert set(codes) <= set(DEAD_LETTER_CODES)
    assert "internal_error" not in codes, "a failure of ours"
    stored = bool(plan.readings or plan.events or plan.online)
    if plan.accepted:
        assert plan.accepted == 1
        assert stored, "accepted, yet nothing to store"
        assert len(codes) <= 1
        assert set(codes) <= PARTIAL_CODES
    else:
        assert len(codes) == 1, codes
        assert not stored
        assert not plan.subjects
    assert len(plan.errors) == (len(codes) if item.topic is not None else 0)
    for row in plan.dead_letters:
        assert "\x00" not in row.reason
        assert "\x00" not in row.topic
        row.reason.encode("utf-8")  # PostgreSQL's text: no lone surrogate either
        assert row.device_id == (item.topic.device_id if item.topic else None)


def leak_forms(secret: str) -> list[bytes]:
    """*secret* as a dead letter or reply could hold it: raw, or JSON-escaped."""
    escaped = "".join(c if c.isascii() else f"\\u{ord(c):04x}" for c in secret)
    return [secret.encode(), escaped.encode()]


def assert_not_kept(plan: BatchPlan, secret: str) -> None:
    for form in leak_forms(secret):
        for row in plan.dead_letters:
            assert form not in row.payload, (form, row)
            assert form.decode() not in row.reason, (form, row.reason)
        for _topic, reply in plan.errors:
            assert form not in reply, (form, reply)
