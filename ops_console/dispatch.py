"""Sends the dispatch outbox to agencies' webhooks: a background task of the console.

Each due row is taken with ``FOR UPDATE SKIP LOCKED`` inside a transaction that
lasts until its attempt is recorded, so several console processes share the outbox
without sending a message twice. A row waits while an earlier message of the same
alert to the same agency is still pending, so an agency never hears "cleared"
before "occurred". The ``Idempotency-Key`` header is the row's key, the same on
every retry. Delivered and finally failed messages are written to the alert's
timeline, which is how the delivery state shows on the alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import psycopg
from psycopg_pool import PoolTimeout

from hub.alert_store import get_alert, record_change
from hub.settings import Settings
from ops_console.dispatch_retry import RetryPolicy, judge

log = logging.getLogger(__name__)

AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]
ConnectionFactory = Callable[[], AbstractAsyncContextManager[AsyncConn]]

_DUE = (
    "SELECT o.id, o.alert_id, o.agency_id, o.status_code, o.payload, o.idempotency_key, o.attempts, "
    "       a.webhook_url "
    "FROM hub.dispatch_outbox o JOIN hub.agencies a ON a.id = o.agency_id "
    "WHERE o.state = 'pending' AND o.next_attempt_at <= now() "
    "AND NOT EXISTS (SELECT 1 FROM hub.dispatch_outbox p WHERE p.alert_id = o.alert_id "
    "                AND p.agency_id = o.agency_id AND p.id < o.id AND p.state = 'pending') "
    "ORDER BY o.next_attempt_at, o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED"
)


class DispatchWorker:
    def __init__(self, settings: Settings, connection: ConnectionFactory,
                 client: httpx.AsyncClient) -> None:
        self._connection = connection
        self._client = client
        self._default_url = settings.dispatch_webhook_url
        self._poll_s = settings.dispatch_poll_s
        self._policy = RetryPolicy(settings.dispatch_max_attempts, settings.dispatch_backoff_s,
                                   settings.dispatch_backoff_max_s)

    async def _post(self, url: str | None, payload: Any, key: str) -> tuple[int | None, str | None]:
        if not url:
            return None, "no webhook URL: set the agency's webhook_url or CITYHUB_DISPATCH_WEBHOOK_URL"
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            response = await self._client.post(url, content=body, headers={
                "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key})
        except httpx.TimeoutException:
            return None, "timed out"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None

    async def attempt_one(self) -> bool:
        """Send the next due message, if any; False when nothing is due."""
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(_DUE)
            row = await cur.fetchone()
            if row is None:
                return False
            row_id, alert_id, agency_id, code, payload, key, attempts, agency_url = row
            status, error = await self._post(agency_url or self._default_url, payload, key)
            attempts += 1
            outcome = judge(self._policy, attempts, status, error)
            await conn.execute(
                "UPDATE hub.dispatch_outbox SET state = %s, attempts = %s, last_error = %s, "
                "response_status = %s, next_attempt_at = now() + %s, "
                "delivered_at = CASE WHEN %s = 'delivered' THEN now() END WHERE id = %s",
                (outcome.state, attempts, outcome.error, status,
                 timedelta(seconds=outcome.retry_in_s or 0), outcome.state, row_id))
            if outcome.state == "pending":
                log.warning("dispatch of alert %s to %s failed (attempt %d): %s; retry in %.0f s",
                            alert_id, agency_id, attempts, outcome.error, outcome.retry_in_s)
                return True
            log.info("dispatch of alert %s to %s (%s): %s", alert_id, agency_id, code, outcome.state)
            alert = await get_alert(conn, alert_id, lock=True)
            await record_change(conn, alert, actor="dispatch", action=f"dispatch_{outcome.state}",
                                from_state=alert.state,
                                details={"agency": agency_id, "status_code": code, "attempts": attempts,
                                         "error": outcome.error})
            return True

    async def drain(self) -> int:
        """Send every message that is due now; how many attempts were made."""
        sent = 0
        while await self.attempt_one():
            sent += 1
        return sent

    async def run(self) -> None:
        """Drain, then wait a poll interval, forever (cancel to stop)."""
        while True:
            try:
                await self.drain()
            except (psycopg.OperationalError, PoolTimeout) as exc:
                log.warning("dispatch paused: the database is unavailable (%s)", type(exc).__name__)
            except Exception:
                # A background task that dies is silent; log and keep the outbox moving.
                log.exception("dispatch worker error; continuing")
            await asyncio.sleep(self._poll_s)


@asynccontextmanager
async def dispatching(settings: Settings, connection: ConnectionFactory) -> AsyncIterator[DispatchWorker]:
    """Run a worker in the background for the duration of the block (the app's lifespan)."""
    async with httpx.AsyncClient(timeout=settings.dispatch_timeout_s,
                                 headers={"User-Agent": "cityhub-dispatch/1"}) as client:
        worker = DispatchWorker(settings, connection, client)
        task = asyncio.create_task(worker.run(), name="cityhub-dispatch")
        try:
            yield worker
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
