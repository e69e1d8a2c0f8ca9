"""SIGTERM drains the console: no new connections, live-view clients told why they are
closed, requests in flight answered, then the lifespan's shutdown (pool, dispatch).

uvicorn alone would close live-view sockets with 1012 and no reason; here each client
gets the live view's own close (1001, "the console is shutting down"), so a browser
reconnects (to another instance behind the proxy) and resumes from its last alert seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from ops_console.live.fanout import CLOSE_SHUTDOWN

log = logging.getLogger(__name__)

# How long live-view clients get to take their close frame.
WS_CLOSE_TIMEOUT_S = 5.0
# How long requests in flight (a long export stream) may still run after SIGTERM; longer
# than most, shorter than an orchestrator's usual 30 s before SIGKILL.
GRACEFUL_TIMEOUT_S = 25


async def close_live_view(app: FastAPI, timeout: float = WS_CLOSE_TIMEOUT_S) -> int:
    """Close every live-view client with 1001; wait up to *timeout* for them to go; how
    many were connected."""
    live = getattr(app.state, "live", None)
    if live is None:
        return 0
    fanout = live.fanout
    count = int(fanout.connected)
    fanout.close_all(CLOSE_SHUTDOWN, "the console is shutting down; reconnect to resume")
    deadline = asyncio.get_running_loop().time() + timeout
    while fanout.connected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return count


class DrainingServer(uvicorn.Server):
    """uvicorn's server, closing the live view itself before uvicorn's own shutdown, and
    exiting with 0 after a drain."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            # uvicorn raises the signal again once it has shut down, so the process would
            # die of SIGTERM; a completed drain is a clean exit (0), as for every service.
            self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the live view closes
        closed = await close_live_view(self._app)
        log.info("stopping: closed %d live-view connection(s); finishing requests in flight", closed)
        await super().shutdown(sockets)
