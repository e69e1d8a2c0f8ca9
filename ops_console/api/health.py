"""Liveness, readiness and Prometheus metrics (public, outside /api/v1)."""

from __future__ import annotations

import asyncio

import psycopg
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ops_console.auth import public
from ops_console.db import get_pool

router = APIRouter(tags=["health"], dependencies=[Depends(public())])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {}})
async def readyz(request: Request) -> JSONResponse:
    """The database answers."""
    try:
        async with asyncio.timeout(3):
            async with get_pool(request).connection(timeout=3) as conn:
                await conn.execute("SELECT 1")
    except (psycopg.Error, TimeoutError) as exc:
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
