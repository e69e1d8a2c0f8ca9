"""/api/v1/releases: anonymised releases over HTTP (the administrator's `cityhub privacy release`).

- ``GET /api/v1/releases`` — ``{"releases": [record, …]}`` (data roles; ``?all=true``
  includes deleted ones);
- ``POST /api/v1/releases`` — admin only: body ``{"dataset", "from"?, "to"?, "purpose",
  "recipients", "processing_period_end", "linkage_threshold"?, "parameters"?}``; 201 with
  the record, 409 when refused (linkage attack above the threshold, period ended), 400
  when the body is wrong;
- ``POST /api/v1/releases/expire`` — admin only: deletes releases whose processing
  period has ended and lists them.

A release reads the pseudonymised zone and writes the open schema, so the console's
database login needs the administrator's rights for POST (as `cityhub up` has); a
console running as cityhub_console answers 403 with the reason.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Body, Depends, HTTPException, Request, status

from analytics.privacy import records, release
from analytics.privacy.method import Period
from analytics.privacy.release_cli import as_document
from hub.errors import DatabaseUnavailable, InvalidInput
from hub.timeparse import BadTimestamp, parse_user_time
from ops_console.auth import Principal, require_roles

router = APIRouter(prefix="/api/v1/releases", tags=["releases"])
Admin = Annotated[Principal, Depends(require_roles("admin"))]
Conn = psycopg.Connection[tuple[Any, ...]]


def _url(request: Request) -> str:
    url = request.app.state.settings.database_url
    if not url:
        raise DatabaseUnavailable("The console has no database URL.")
    return str(url)


def _time(value: object, name: str) -> datetime:
    try:
        return parse_user_time(str(value))
    except BadTimestamp as exc:
        raise InvalidInput(f"{name}: {exc}") from None


def _run_release(url: str, body: dict[str, Any], actor: str) -> dict[str, Any]:
    dataset = body.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise InvalidInput("The body needs a dataset, e.g. {\"dataset\": \"meter_load\", …}.")
    period = release.default_period(datetime.now(UTC))
    period = Period(_time(body["from"], "from") if body.get("from") else period.start,
                    _time(body["to"], "to") if body.get("to") else period.end)
    with psycopg.connect(url, autocommit=True) as conn:
        record = release.make_release(conn, dataset, release.parse_request(body), period, actor=actor)
    return as_document(record)


def _run_expire(url: str, actor: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [as_document(r) for r in release.expire(conn, actor=actor)]


def _list(url: str, include_deleted: bool) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [as_document(r) for r in records.list_releases(conn, include_deleted=include_deleted)]


async def _off_loop(call: Any, *args: Any) -> Any:
    # The release framework is synchronous (pandas, COPY): it runs in a worker thread.
    try:
        return await asyncio.to_thread(call, *args)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "The console's database login may not write releases: run `cityhub privacy "
                            "release` as the administrator.") from exc
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"Cannot reach the database: {str(exc).strip().splitlines()[0]}") from exc


@router.get("")
async def list_releases(principal: Admin, request: Request, all: bool = False) -> dict[str, object]:
    """The releases with their measures and legal record. Administrators only: data
    scientists find the live releases, with the same measures, in /api/v1/datasets."""
    return {"releases": await _off_loop(_list, _url(request), all)}


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={400: {"description": "The body is wrong."},
                        409: {"description": "Refused: linkage attack above its threshold, period ended."}})
async def create_release(principal: Admin, request: Request,
                         body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Publish a new version of a dataset into anon, with its record (admin only)."""
    result: dict[str, Any] = await _off_loop(_run_release, _url(request), body, f"user:{principal.username}")
    return result


@router.post("/expire")
async def expire_releases(principal: Admin, request: Request) -> dict[str, object]:
    """Delete the releases whose processing period has ended (admin only)."""
    return {"deleted": await _off_loop(_run_expire, _url(request), f"user:{principal.username}")}
