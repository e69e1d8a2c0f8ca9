"""The console's bound on dataset streams at once: a request past it waits for a slot,
and gets a 503 with a reason when none frees in time. No database: the slots are taken
before any connection is made."""

from __future__ import annotations

import asyncio

import pytest

from hub.errors import DatabaseUnavailable
from ops_console import dataset_stream
from ops_console.dataset_stream import Readers


def test_a_stream_past_the_bound_waits_for_a_slot_then_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset_stream, "SLOT_WAIT_S", 0.2)

    async def scenario() -> tuple[str, bool]:
        readers = Readers("postgresql://nobody@127.0.0.1:1/none", size=2)
        await readers.acquire()
        await readers.acquire()
        with pytest.raises(DatabaseUnavailable) as refused:
            await readers.acquire()
        # A waiting request gets the slot that a finished stream gives back.
        waiting = asyncio.ensure_future(readers.acquire())
        await asyncio.sleep(0)
        readers.release()
        await waiting
        return str(refused.value), waiting.exception() is None

    reason, served = asyncio.run(scenario())
    assert "busy" in reason
    assert served
