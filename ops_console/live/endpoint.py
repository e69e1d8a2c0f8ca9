"""``/ws``: the live view's WebSocket, and ``install`` which adds it to the console app.

The handshake is refused with an HTTP status and a JSON reason (401 no or bad token,
403 a role without the live view or an Origin not allowed). After it the server sends
``{"type": "hello", "seq": <latest alert change seq>, …}`` and then whatever the
client subscribes to (see ops_console/live/protocol.py and docs/console-web.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from hub.settings import Settings
from ops_console.auth import Principal, read_access_token
from ops_console.live import handshake, messages, protocol
from ops_console.live.fanout import CLOSE_TOKEN_EXPIRED, Client, FanOut
from ops_console.live.service import LiveService
from ops_console.metrics import LiveViewCollector

log = logging.getLogger(__name__)

router = APIRouter()

SEND_BATCH = 200


def install(app: FastAPI, settings: Settings) -> None:
    """Add /ws and run the live service (LISTEN + fan-out) inside the app's lifespan."""
    app.include_router(router)
    app.state.metrics_registry.register(
        LiveViewCollector(lambda: getattr(getattr(app.state, "live", None), "fanout", None)))
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(instance: Any) -> AsyncIterator[Any]:
        async with inner(instance) as state:
            limit = settings.console_ws_queue_limit
            # The app's lifespan (entered above) has opened the pool; it closes it after this block.
            service = LiveService(settings.require_database(), app.state.pool, FanOut(limit),
                                  backlog_limit=limit // 2)
            async with service.running():
                app.state.live = service
                yield state

    app.router.lifespan_context = lifespan


async def _deny(websocket: WebSocket, status: int, reason: str) -> None:
    await websocket.send_denial_response(JSONResponse({"detail": reason}, status_code=status))


def _authorise(websocket: WebSocket, settings: Settings) -> tuple[Principal, float, str | None]:
    creds = handshake.credentials(websocket.headers, websocket.query_params,
                                  websocket.scope.get("subprotocols", ()))
    if creds.token is None:
        raise HTTPException(401, 'The live view needs an access token: offer the subprotocols '
                                 '["cityhub.v1", "bearer.<token>"] or send Authorization: Bearer.')
    token = read_access_token(settings, creds.token)
    principal = token.principal
    if principal.role not in handshake.LIVE_ROLES:
        raise HTTPException(403, f"Role {principal.role!r} may not use the live view; allowed: "
                                 f"{', '.join(handshake.LIVE_ROLES)}.")
    return principal, token.expires_at, creds.subprotocol


@router.websocket("/ws")
async def live_socket(websocket: WebSocket) -> None:
    settings: Settings = websocket.app.state.settings
    origin = websocket.headers.get("origin")
    if not handshake.origin_allowed(origin, websocket.headers.get("host"), settings.console_origin_list):
        log.warning("live: refused a handshake from Origin %.100s", origin)
        await _deny(websocket, 403, f"Origin {origin!r} is not allowed; add it to CITYHUB_CONSOLE_ORIGINS.")
        return
    try:
        principal, expires, subprotocol = _authorise(websocket, settings)
    except HTTPException as exc:
        await _deny(websocket, exc.status_code, str(exc.detail))
        return
    live: LiveService = websocket.app.state.live
    await websocket.accept(subprotocol=subprotocol)
    client = live.fanout.add(principal.username)
    try:
        await websocket.send_text(messages.Message((), {
            "type": "hello", "seq": await live.current_seq(), "user": principal.username,
            "role": principal.role, "queue_limit": client.queue.limit}).text)
        sender = asyncio.create_task(_send(websocket, client, expires))
        receiver = asyncio.create_task(_receive(websocket, client, live))
        await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_COMPLETED)
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        live.fanout.remove(client)
    if client.close_code is not None:
        with contextlib.suppress(Exception):
            # A client that stopped reading cannot take a clean close: do not wait on it.
            async with asyncio.timeout(2):
                await websocket.close(client.close_code, client.close_reason[:120])


async def _send(websocket: WebSocket, client: Client, expires: float) -> None:
    while True:
        remaining = max(0.0, expires - time.time())
        try:
            async with asyncio.timeout(remaining):
                await client.wake.wait()
        except TimeoutError:
            client.close(CLOSE_TOKEN_EXPIRED, "the access token expired; reconnect with a fresh one "
                                              "and since_seq to resume")
        client.wake.clear()
        if client.close_code is not None:
            return
        batch = client.queue.take(SEND_BATCH)
        for message in batch:
            await websocket.send_text(message.text)
        if len(client.queue):
            client.wake.set()


async def _receive(websocket: WebSocket, client: Client, live: LiveService) -> None:
    while True:
        text = await websocket.receive_text()
        try:
            request = protocol.parse_request(text)
        except protocol.ProtocolError as exc:
            client.offer(messages.Message((), {"type": "error", "reason": str(exc)}))
            continue
        if isinstance(request, protocol.Ping):
            client.offer(messages.Message((), {"type": "pong"}))
        elif isinstance(request, protocol.Unsubscribe):
            client.channels = client.channels - request.channels
            client.offer(_ack("unsubscribed", client))
        else:
            await _subscribe(client, live, request)


def _ack(kind: str, client: Client, **extra: Any) -> messages.Message:
    return messages.Message((), {"type": kind, "channels": sorted(client.channels), **extra})


async def _subscribe(client: Client, live: LiveService, request: protocol.Subscribe) -> None:
    added = request.channels - client.channels
    resume = request.since_seq is not None and "alerts" in request.channels
    if not resume:
        client.channels = client.channels | request.channels
        client.offer(_ack("subscribed", client))
    else:
        # Live changes are held from here on, so none falls between backlog and live.
        client.queue.begin_resume()
        client.channels = client.channels | request.channels
        backlog = await live.backlog(request.since_seq or 0)
        if len(backlog) > live.backlog_limit:
            client.offer(_ack("subscribed", client, resync=True, reason=(
                f"more than {live.backlog_limit} alert changes since seq {request.since_seq}: "
                "reload the alert list over REST")))
            client.finish_resume([])
        else:
            client.offer(_ack("subscribed", client, since_seq=request.since_seq, resumed=len(backlog)))
            client.finish_resume(backlog)
    if "kpis" in added:
        client.offer(await live.kpis_now())
