"""Dispatch to agencies: a real local webhook receives the outbox's messages."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
import pytest

from hub.catalogue import Catalogue
from hub.settings import load_settings
from ops_console.dispatch import AsyncConn, DispatchWorker
from ops_console.dispatch_retry import RetryPolicy, judge
from tests.ops_console.alert_helpers import device_with_alert
from tests.ops_console.conftest import bearer
from tests.waiting import wait_for

Tokens = Callable[[str], str]


# --- the retry policy (pure) -------------------------------------------------------------------

def test_2xx_is_delivered() -> None:
    assert judge(RetryPolicy(), 1, 204, None).state == "delivered"


@pytest.mark.parametrize(("status", "error"), [(500, None), (503, None), (429, None), (408, None),
                                               (None, "timed out")])
def test_server_errors_and_timeouts_retry_with_growing_delays(status: int | None, error: str | None) -> None:
    policy = RetryPolicy(max_attempts=5, first_delay_s=2, max_delay_s=10)
    delays = [judge(policy, n, status, error).retry_in_s for n in (1, 2, 3, 4)]
    assert delays == [2, 4, 8, 10]
    assert judge(policy, 1, status, error).state == "pending"


def test_attempts_run_out() -> None:
    outcome = judge(RetryPolicy(max_attempts=3), 3, 502, None)
    assert outcome.state == "failed"
    assert outcome.error == "HTTP 502 (gave up after 3 attempts)"


def test_a_refusal_is_final() -> None:
    outcome = judge(RetryPolicy(), 1, 400, None)
    assert (outcome.state, outcome.error) == ("failed", "HTTP 400")


# --- a real webhook ----------------------------------------------------------------------------

@dataclass
class Received:
    key: str
    body: dict[str, Any]
    status: int


class Webhook:
    """An HTTP server on a thread; answers ``fail_first`` 500s per idempotency key, then ``final``."""

    def __init__(self, fail_first: int = 0, final: int = 200) -> None:
        self.fail_first = fail_first
        self.final = final
        self.received: list[Received] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                key = self.headers.get("Idempotency-Key", "")
                with hook._lock:
                    seen = sum(1 for r in hook.received if r.key == key)
                    status = 500 if seen < hook.fail_first else hook.final
                    hook.received.append(Received(key, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def codes(self, status: int = 200) -> list[str]:
        with self._lock:
            return [r.body["statEvet"]["procSt"] for r in self.received if r.status == status]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(fail_first=2)
    hook.thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


def new_agency(database_url: str, url: str) -> str:
    agency = f"test-{secrets.token_hex(4)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO hub.agencies (id, name, kind, webhook_url) VALUES (%s, %s, 'other', %s)",
                     (agency, f"Test agency {agency}", url))
    return agency


@pytest.mark.integration
def test_console_delivers_with_retries_and_one_idempotency_key(
    client: httpx.Client, token_for: Tokens, webhook: Webhook, database_url: str, catalogue: Catalogue,
) -> None:
    agency = new_agency(database_url, webhook.url)
    _, alert = device_with_alert(database_url, catalogue)
    op = bearer(token_for("operator"))
    assigned = client.post(f"/api/v1/alerts/{alert.id}/assign", headers=op, json={"agency": agency})
    assert assigned.json()["delivery"] == "pending"

    def delivered() -> dict[str, Any] | None:
        detail: dict[str, Any] = client.get(f"/api/v1/alerts/{alert.id}", headers=op).json()
        return detail if detail["delivery"] == "delivered" else None

    detail = wait_for(delivered, timeout=60, what="the console to deliver the alert")
    [message] = detail["deliveries"]
    assert (message["attempts"], message["response_status"], message["status_code"]) == (3, 200, "10")
    tries = [r for r in webhook.received if r.key == message["idempotency_key"]]
    assert [r.status for r in tries] == [500, 500, 200]
    event = tries[-1].body["statEvet"]
    assert event["statEvetId"] == f"CITYHUB-{alert.id:010d}"
    assert (event["procSt"], event["statEvetGdCd"], event["statEvetNm"]) == ("10", "2", alert.title)
    assert event["outbPos"] == [{"x": "126.977900", "y": "37.566300"}]
    assert tries[-1].body["cityhub"]["agency"] == agency
    assert "dispatch_delivered" in [c["action"] for c in detail["timeline"]]

    resolved = client.post(f"/api/v1/alerts/{alert.id}/resolve", headers=op, json={"outcome": "handled"})
    assert resolved.status_code == 200
    wait_for(delivered, timeout=60, what="the completion message")
    assert webhook.codes() == ["10", "91"]


@asynccontextmanager
async def _connect(url: str) -> AsyncIterator[AsyncConn]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        yield conn


async def _drain_with(url: str, workers: int) -> None:
    settings = load_settings({}, database_url=url, dispatch_backoff_s=0.01)
    async with httpx.AsyncClient(timeout=5) as http:
        pool = [DispatchWorker(settings, lambda: _connect(url), http) for _ in range(workers)]
        await asyncio.gather(*(w.drain() for w in pool))


@pytest.mark.integration
def test_several_workers_never_send_a_message_twice(database_url: str, catalogue: Catalogue,
                                                     client: httpx.Client, token_for: Tokens) -> None:
    hook = Webhook()
    hook.thread.start()
    try:
        agency = new_agency(database_url, hook.url)
        op = bearer(token_for("operator"))
        alerts = [device_with_alert(database_url, catalogue)[1] for _ in range(6)]
        for a in alerts:
            client.post(f"/api/v1/alerts/{a.id}/assign", headers=op, json={"agency": agency})
            client.post(f"/api/v1/alerts/{a.id}/escalate", headers=op)
        asyncio.run(_drain_with(database_url, 3))
        wait_for(lambda: len(hook.codes()) == 12, timeout=30, what="all twelve messages")
        per_key = Counter(r.key for r in hook.received)
        assert set(per_key.values()) == {1}
        for a in alerts:
            mine = [r.body["statEvet"]["procSt"] for r in hook.received
                    if r.body["cityhub"]["alert_id"] == a.id]
            assert mine == ["10", "40"]  # in order, whichever worker sent them
    finally:
        hook.server.shutdown()
        hook.server.server_close()


@pytest.mark.integration
def test_a_refused_message_fails_with_its_reason(database_url: str, catalogue: Catalogue,
                                                 client: httpx.Client, token_for: Tokens) -> None:
    hook = Webhook(final=422)
    hook.thread.start()
    try:
        agency = new_agency(database_url, hook.url)
        op = bearer(token_for("operator"))
        _, alert = device_with_alert(database_url, catalogue)
        client.post(f"/api/v1/alerts/{alert.id}/assign", headers=op, json={"agency": agency})
        asyncio.run(_drain_with(database_url, 1))

        def failed() -> dict[str, Any] | None:
            detail: dict[str, Any] = client.get(f"/api/v1/alerts/{alert.id}", headers=op).json()
            return detail if detail["delivery"] == "failed" else None

        detail = wait_for(failed, timeout=30, what="the delivery to be marked failed")
        assert detail["deliveries"][0]["last_error"] == "HTTP 422"
        assert detail["deliveries"][0]["attempts"] == 1
        assert "dispatch_failed" in [c["action"] for c in detail["timeline"]]
    finally:
        hook.server.shutdown()
        hook.server.server_close()
