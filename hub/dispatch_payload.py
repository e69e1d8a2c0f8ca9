"""The message an agency receives about an alert. Pure.

It follows the event message of the Korean smart-city integrated platform (통합플랫폼),
whose situation-event object ``statEvet`` carries the event id, name, grade, the
progress status code (``procSt``) and the occurrence position as x/y (longitude/
latitude). Times are the platform's ``yyyyMMddHHmmssSSS`` in Korean time. The
``cityhub`` object adds our own ids for people reading both systems' logs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hub.alerts import CANCELLED, CLEARED, COMPLETED, OCCURRED, UPDATED, Alert

# Korea keeps no daylight-saving time, so a fixed offset is exact.
KST = timezone(timedelta(hours=9), "KST")
GRADES = {"critical": "1", "warning": "2", "info": "3"}
STATUS_NAMES = {
    OCCURRED: "occurred", UPDATED: "updated", CLEARED: "cleared", CANCELLED: "cancelled",
    COMPLETED: "completed",
}
# Codes that end the event: the message carries its clearing time.
_ENDING = (CLEARED, COMPLETED)


def platform_time(ts: datetime | None) -> str:
    if ts is None:
        return ""
    local = ts.astimezone(KST)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def event_id(alert_id: int) -> str:
    return f"CITYHUB-{alert_id:010d}"


def idempotency_key(alert_id: int, seq: int, agency_id: str) -> str:
    """Stable for one message: the alert change that caused it and the agency it goes to."""
    return f"cityhub-{alert_id}-{seq}-{agency_id}"


def _content(alert: Alert) -> str:
    parts = [alert.title]
    if alert.metric is not None and alert.value is not None:
        parts.append(f"{alert.metric}={alert.value:g}")
    if alert.device_id:
        parts.append(f"device {alert.device_id}")
    if alert.count > 1:
        parts.append(f"seen {alert.count} times")
    return "; ".join(parts)


def build_payload(
    alert: Alert,
    *,
    status_code: str,
    agency_id: str,
    lon: float | None,
    lat: float | None,
    changed_at: datetime,
) -> dict[str, Any]:
    if status_code not in STATUS_NAMES:
        raise ValueError(f"unknown occurrence status code {status_code!r}")
    position = [] if lon is None or lat is None else [{"x": f"{lon:.6f}", "y": f"{lat:.6f}"}]
    return {
        "statEvet": {
            "statEvetId": event_id(alert.id),
            "statEvetNm": alert.title,
            "statEvetGdCd": GRADES[alert.severity],
            "procSt": status_code,
            "statEvetOutbDtm": platform_time(alert.first_seen),
            "statEvetClrDtm": platform_time(alert.resolved_at) if status_code in _ENDING else "",
            "statEvetCntn": _content(alert),
            "outbPosNm": alert.zone or "",
            "outbPosCnt": len(position),
            "outbPos": position,
            "uSvcOutbId": alert.alert_type,
        },
        "cityhub": {
            "alert_id": alert.id,
            "agency": agency_id,
            "status": STATUS_NAMES[status_code],
            "state": alert.state,
            "severity": alert.severity,
            "source": alert.source,
            "rule_id": alert.rule_id,
            "device_id": alert.device_id,
            "count": alert.count,
            "outcome": alert.outcome,
            "changed_at": changed_at.isoformat(),
        },
    }
