"""/api/v1/datasets: the data scientists' catalogue and its rows, streamed.

- ``GET /api/v1/datasets`` — ``{"datasets": [entry, …]}``;
- ``GET /api/v1/datasets/{name}`` — one entry (hub/datasets/describe.py);
- ``GET /api/v1/datasets/{name}/rows`` — rows as JSON lines, CSV, Parquet or Arrow IPC
  (``format=`` or the ``Accept`` header), parameters in hub/datasets/request.py.

Coverage and row counts are cached per process for :data:`STATS_TTL` seconds. Every
read goes to CITYHUB_REPLICA_DATABASE_URL when it is set (docs/scaling.md).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from hub.datasets.catalogue import Dataset, find_dataset
from hub.datasets.describe import entry
from hub.datasets.request import FORMATS, parse_rows_request
from hub.datasets.sources import catalogue_plan
from hub.datasets.stats import DatasetStats, dataset_stats, run_async
from hub.errors import DatabaseUnavailable
from hub.users import DATA_ROLES
from ops_console.auth import Principal, require_roles
from ops_console.dataset_stream import open_rows
from ops_console.db import AsyncConn, ReadConn, get_read_pool

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])
READERS = DATA_ROLES
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
STATS_TTL = 60.0
_BY_MEDIA_TYPE = {media: name for name, media in FORMATS.items()}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter is wrong; detail says which and why."},
    404: {"description": "No dataset of that name."}}


def _cache(app: FastAPI) -> dict[str, tuple[float, DatasetStats]]:
    cache: dict[str, tuple[float, DatasetStats]] = app.state.__dict__.setdefault("dataset_stats", {})
    return cache


def forget_stats(app: FastAPI) -> None:
    """Drop the cached coverage and row counts (the next request counts again)."""
    _cache(app).clear()


async def _stats(request: Request, conn: AsyncConn, dataset: Dataset) -> DatasetStats:
    cache = _cache(request.app)
    hit = cache.get(dataset.name)
    if hit is not None and time.monotonic() - hit[0] < STATS_TTL:
        return hit[1]
    stats = await run_async(conn, dataset_stats(dataset))
    cache[dataset.name] = (time.monotonic(), stats)
    return stats


async def _catalogue(conn: AsyncConn) -> dict[str, Dataset]:
    """catalogue.json's datasets and those of the registered sources (the releases)."""
    return await run_async(conn, catalogue_plan())


@router.get("")
async def list_datasets(principal: Reader, request: Request, conn: ReadConn) -> dict[str, object]:
    """Every dataset of the catalogue with its coverage, row count and how to query it."""
    datasets = await _catalogue(conn)
    return {"datasets": [entry(d, await _stats(request, conn, d)) for d in datasets.values()]}


@router.get("/{name}", responses=_ERRORS)
async def show_dataset(principal: Reader, request: Request, conn: ReadConn, name: str) -> dict[str, object]:
    """One dataset's catalogue entry."""
    dataset = find_dataset(await _catalogue(conn), name)
    return entry(dataset, await _stats(request, conn, dataset))


def negotiate(accept: str | None) -> str:
    """The format the ``Accept`` header prefers among ours; JSON lines when none."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept or "").split(",")):
        media, *options = (p.strip() for p in part.split(";"))
        q = 1.0
        for option in options:
            key, _, value = option.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media.lower() in _BY_MEDIA_TYPE and q > 0:
            ranked.append((-q, position, _BY_MEDIA_TYPE[media.lower()]))
    return min(ranked)[2] if ranked else "jsonl"


@router.get("/{name}/rows", responses={
    **_ERRORS, 200: {"description": "The rows, streamed.",
                     "content": {m: {} for m in FORMATS.values()}}})
async def dataset_rows(
    principal: Reader,
    request: Request,
    name: str,
    start: Annotated[str | None, Query(alias="from", description="ISO-8601, inclusive.")] = None,
    end: Annotated[str | None, Query(alias="to", description="ISO-8601, exclusive; default now.")] = None,
    bucket: Annotated[str | None, Query(description="1m, 15m, 1h or 1d.")] = None,
    agg: Annotated[str | None, Query(description="avg,min,max,sum,count,last (with bucket).")] = None,
    columns: Annotated[str | None, Query(description="Comma-separated column names.")] = None,
    format: Annotated[str | None, Query(description="jsonl, csv, parquet or arrow; else Accept.")] = None,
    limit: Annotated[str | None, Query(description="Rows per page, 1 … 100000; none: all.")] = None,
    after: Annotated[str | None, Query(description="X-Next-Cursor of the previous page.")] = None,
) -> StreamingResponse:
    """Rows of a dataset in ``[from, to)``; other query parameters filter on columns.

    Without ``limit`` the whole range streams; with it, at most ``limit`` rows and,
    when more exist, the ``X-Next-Cursor`` header to pass back as ``after``.
    """
    try:
        async with get_read_pool(request).connection() as conn:
            dataset = find_dataset(await _catalogue(conn), name)
    except psycopg.OperationalError as exc:
        # The replica (or the primary) is away: a 503 that says so, not a 500.
        raise DatabaseUnavailable(f"The database is unavailable: {type(exc).__name__}.") from exc
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    if "format" not in params:
        params["format"] = [negotiate(request.headers.get("accept"))]
    rows_request = parse_rows_request(dataset, params)
    stream = await open_rows(get_read_pool(request), request.app.state.readers, rows_request)
    headers = {"Cache-Control": "no-store"}
    if stream.next_cursor is not None:
        headers["X-Next-Cursor"] = stream.next_cursor
    if rows_request.format != "jsonl":
        suffix = {"csv": "csv", "parquet": "parquet", "arrow": "arrows"}[rows_request.format]
        headers["Content-Disposition"] = f'attachment; filename="{dataset.name}.{suffix}"'
    return StreamingResponse(stream.body(), media_type=FORMATS[rows_request.format], headers=headers,
                             background=BackgroundTask(stream.close))
