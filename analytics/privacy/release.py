"""The release framework: run a method, check its linkage attack, publish, record, expire.

``make_release`` loads the method's input for a period, lets the (pure) method make the
table, refuses it when its linkage attack succeeds above the threshold of the params,
then — in one transaction — writes ``anon.<dataset>_v<n>``, points the view
``anon.<dataset>`` at it, spends its epsilon (analytics.privacy.ledger) and inserts the
record into hub.releases. ``expire`` deletes releases whose processing period has ended.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml

from analytics.privacy import publish, records
from analytics.privacy.errors import BadReleaseParams, ReleaseRefused, UnknownRelease
from analytics.privacy.method import Period, ReleaseMethod
from analytics.privacy.records import ReleaseRecord
from hub import audit
from hub.timeparse import BadTimestamp, parse_user_time

log = logging.getLogger(__name__)
Conn = psycopg.Connection[tuple[Any, ...]]
DEFAULT_LINKAGE_THRESHOLD = 0.05
_LOCK = 0x72656C65617365  # "release": one release or expiry at a time per database


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    """What a params file (YAML or JSON) or the API's body says about a release."""

    purpose: str
    recipients: tuple[str, ...]
    period_end: datetime  # end of the processing period: the release is deleted then
    linkage_threshold: float = DEFAULT_LINKAGE_THRESHOLD
    params: Mapping[str, object] = field(default_factory=dict)  # the method's parameters


def parse_request(document: Mapping[str, Any]) -> ReleaseRequest:
    """A :class:`ReleaseRequest` from a params document; BadReleaseParams says what is wrong."""
    missing = [k for k in ("purpose", "recipients", "processing_period_end") if not document.get(k)]
    if missing:
        raise BadReleaseParams(f"The release parameters lack {', '.join(missing)}: the legal record needs "
                               "the purpose, the recipients and the end of the processing period.")
    recipients = document["recipients"]
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not all(isinstance(r, str) and r for r in recipients):
        raise BadReleaseParams("recipients must be a name or a list of names.")
    end = document["processing_period_end"]
    try:
        period_end = end if isinstance(end, datetime) else parse_user_time(str(end))
    except BadTimestamp as exc:
        raise BadReleaseParams(f"processing_period_end: {exc}") from None
    if period_end.tzinfo is None:
        period_end = period_end.replace(tzinfo=UTC)
    threshold = document.get("linkage_threshold", DEFAULT_LINKAGE_THRESHOLD)
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise BadReleaseParams(f"linkage_threshold must be a share between 0 and 1, not {threshold!r}.")
    params = document.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadReleaseParams("parameters must be a mapping of the method's parameters.")
    return ReleaseRequest(str(document["purpose"]), tuple(recipients), period_end, float(threshold), params)


def load_request(path: Path) -> ReleaseRequest:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadReleaseParams(f"Cannot read the params file {path}: {exc.strerror}.") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise BadReleaseParams(f"The params file {path} is not valid YAML or JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadReleaseParams(f"The params file {path} must hold a mapping.")
    return parse_request(document)


def methods() -> dict[str, ReleaseMethod]:
    """Every releasable dataset, by name."""
    from analytics.privacy.cctv import CCTV_METHODS
    from analytics.privacy.kanon import HouseholdBands
    from analytics.privacy.meter_dp import METER_DP_METHODS
    from analytics.privacy.meters import MeterLoad

    found: Sequence[ReleaseMethod] = (MeterLoad(), HouseholdBands(), *METER_DP_METHODS, *CCTV_METHODS)
    return {m.dataset: m for m in found}


def method_for(dataset: str) -> ReleaseMethod:
    known = methods()
    if dataset not in known:
        raise UnknownRelease(f"No release method for dataset {dataset!r}; known: {', '.join(sorted(known))}.")
    return known[dataset]


def default_period(now: datetime) -> Period:
    """The last seven whole days before *now*'s hour."""
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return Period(end - timedelta(days=7), end)


def make_release(conn: Conn, dataset: str, request: ReleaseRequest, period: Period, *,
                 actor: str, now: datetime | None = None,
                 method: ReleaseMethod | None = None) -> ReleaseRecord:
    """Publish a new version of *dataset*; ReleaseRefused leaves nothing written."""
    now = now or datetime.now(UTC)
    method = method or method_for(dataset)
    if request.period_end <= now:
        raise ReleaseRefused(f"The processing period ended at {request.period_end.isoformat()}: "
                             "nothing may be released for it.")
    if period.start >= period.end:
        raise BadReleaseParams("The input range is empty: --from must be before --to.")
    params = {**method.defaults, **request.params}
    released = method.release(method.load(conn, period), params)
    if released.linkage_success > request.linkage_threshold:
        raise ReleaseRefused(
            f"Release of {dataset} refused: its linkage attack re-identified {released.linkage_success:.2%}, "
            f"above the threshold of {request.linkage_threshold:.2%}. Nothing was written.")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        kind = publish.existing_kind(conn, dataset)
        live = records.list_releases(conn, dataset=dataset)
        if kind is not None and not (kind == "v" and live):
            raise ReleaseRefused(f"anon.{dataset} exists and is not a release's view; choose another name.")
        version = records.next_version(conn, dataset)
        table = records.table_name(dataset, version)
        types = publish.write_table(conn, table, released.table)
        publish.point_view(conn, dataset, table)
        if released.epsilon > 0:
            from analytics.privacy import ledger
            ledger.spend(conn, dataset, released.epsilon, request.purpose, by=actor)
        record = ReleaseRecord(
            dataset=dataset, version=version, created_at=now, created_by=actor,
            input_start=period.start, input_end=period.end, method=type(method).__name__,
            params={**params, "linkage_threshold": request.linkage_threshold},
            measures={**released.measures, "linkage_success": released.linkage_success,
                      "epsilon": released.epsilon, "notes": list(released.notes)},
            linkage_success=released.linkage_success, epsilon=released.epsilon,
            quasi_identifiers=released.quasi_identifiers, sensitive=released.sensitive,
            columns=types, row_count=len(released.table), purpose=request.purpose,
            items=tuple(n for n, _ in types), recipients=request.recipients,
            period_end=request.period_end)
        records.insert(conn, record)
        audit.append(conn, actor=actor, action="privacy.release", target=f"anon.{table}",
                     details={"rows": record.row_count, "purpose": request.purpose,
                              "linkage_success": released.linkage_success, "epsilon": released.epsilon})
    log.info("released %s version %s: %s rows", dataset, version, record.row_count)
    return record


def expire(conn: Conn, now: datetime | None = None, *, actor: str = "expiry") -> list[ReleaseRecord]:
    """Delete every release whose processing period has ended; the deletion is recorded.

    The view of a dataset moves to its newest live version, or goes when none is left.
    """
    now = now or datetime.now(UTC)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        due = records.due_for_deletion(conn, now)
        for record in due:
            publish.point_view(conn, record.dataset, None)
            publish.drop_table(conn, record.table)
            reason = f"processing period ended {record.period_end.isoformat()}"
            records.mark_deleted(conn, record, now, reason)
            audit.append(conn, actor=actor, action="privacy.release.delete", target=f"anon.{record.table}",
                         details={"reason": reason})
        for dataset in sorted({r.dataset for r in due}):
            live = records.list_releases(conn, dataset=dataset)
            publish.point_view(conn, dataset, live[-1].table if live else None)
    for record in due:
        log.info("deleted release %s: its processing period has ended", record.name)
    return due


def expire_url(url: str, *, actor: str = "analytics") -> int:
    """:func:`expire` on a connection of its own (the analytics service calls it
    periodically); returns how many releases were deleted."""
    with psycopg.connect(url, autocommit=True, application_name="cityhub-release-expiry") as conn:
        return len(expire(conn, actor=actor))
