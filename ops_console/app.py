"""The console's FastAPI application: ``create_app(settings)``.

Routers live in ``ops_console/api/<topic>.py``; each engineer adds one include line
below for theirs. The database pool is opened in the lifespan, never at import.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from hub.device_lookups import DeviceLookups
from hub.errors import AlreadyExists, Conflict, DatabaseUnavailable, HubError, InvalidInput, NotFound
from hub.settings import Settings
from ops_console import input_guard
from ops_console.api import alerts as alerts_api
from ops_console.api import audit as audit_api
from ops_console.api import auth as auth_api
from ops_console.api import datasets as datasets_api
from ops_console.api import devices as devices_api
from ops_console.api import events as events_api
from ops_console.api import forecasts as forecasts_api
from ops_console.api import handover as handover_api
from ops_console.api import health as health_api
from ops_console.api import kpis as kpis_api
from ops_console.api import mqtt as mqtt_api
from ops_console.api import releases as releases_api
from ops_console.api import rules as rules_api
from ops_console.api import telemetry as telemetry_api
from ops_console.broker_login import BrokerLogins
from ops_console.dataset_stream import Readers
from ops_console.db import make_pool, make_read_pool
from ops_console.dispatch import dispatching
from ops_console.live.endpoint import install as install_live
from ops_console.metrics import MetricsMiddleware, RequestMetrics, new_registry
from ops_console.security_headers import SecurityHeaders
from ops_console.web import install as install_web

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[HubError], int]] = [
    (InvalidInput, 400), (NotFound, 404), (AlreadyExists, 409), (Conflict, 409), (DatabaseUnavailable, 503),
]


async def _hub_error(request: Request, exc: Exception) -> JSONResponse:
    code = next((c for kind, c in _STATUS if isinstance(exc, kind)), 500)
    if code == 500:
        log.error("unexpected hub error on %s: %s", request.url.path, exc)
    return JSONResponse({"detail": str(exc)}, status_code=code)


class ConsoleApp(FastAPI):
    """FastAPI, with EMQX's login checks answered before the ASGI stack when they are what
    EMQX sends (ops_console/broker_login.py); every other request goes through the stack."""

    broker_logins: BrokerLogins | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        logins = self.broker_logins
        if logins is not None and logins.handles(scope):
            await logins(scope, receive, send, super().__call__)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings) -> FastAPI:
    """The console app; refuses an empty or default CITYHUB_SECRET_KEY outside demo mode."""
    settings.require_service_secret()
    settings.require_database()
    settings.device_token_keys()  # a weak CITYHUB_DEVICE_TOKEN_KEY is refused at start, not per login

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = make_pool(settings)
        # Not waiting: the console answers /healthz while the database is away; /readyz tells.
        await pool.open(wait=False)
        app.state.pool = pool
        app.state.device_lookups = DeviceLookups(pool.connection)
        read_pool = make_read_pool(settings)
        if read_pool is not None:
            await read_pool.open(wait=False)
        app.state.read_pool = read_pool
        readers = Readers(settings.replica_database_url or settings.require_database(),
                          settings.console_pool_size)
        app.state.readers = readers
        try:
            async with dispatching(settings, pool.connection):
                yield
        finally:
            await asyncio.to_thread(readers.connections.close)
            if read_pool is not None:
                await read_pool.close()
            await pool.close()

    app = ConsoleApp(title="cityhub operations console", version="1", lifespan=lifespan,
                     openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.settings = settings
    app.state.metrics_registry = new_registry()
    metrics = RequestMetrics(app.state.metrics_registry)
    app.add_middleware(input_guard.RejectNul)
    # Outside RejectNul, so its refusals carry the headers too.
    app.add_middleware(SecurityHeaders, settings=settings)
    # Added last, so outermost: refused requests are counted too.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(psycopg.DataError, input_guard.bad_data)
    app.add_exception_handler(OverflowError, input_guard.bad_data)

    app.include_router(health_api.router)
    app.include_router(auth_api.router)
    app.include_router(devices_api.router)
    app.include_router(forecasts_api.router)
    app.include_router(telemetry_api.router)
    app.include_router(events_api.router)
    app.include_router(audit_api.router)
    app.include_router(mqtt_api.router)
    mqtt_api.install_fast_auth(app)
    app.broker_logins = BrokerLogins(app.state, settings, metrics)
    app.include_router(alerts_api.router)
    app.include_router(kpis_api.router)
    app.include_router(handover_api.router)
    app.include_router(datasets_api.router)
    app.include_router(releases_api.router)
    app.include_router(rules_api.router)
    install_live(app, settings)
    install_web(app)
    return app
