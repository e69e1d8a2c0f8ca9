"""Request and response bodies of the alert endpoints, and conversion from hub values."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.alert_store import Change, Delivery, SopItem
from hub.alerts import NOTE_MAX, Alert

Outcome = Literal["cleared", "handled", "false_alarm", "duplicate"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoteIn(_Body):
    text: str = Field(min_length=1, max_length=NOTE_MAX)


class OptionalNoteIn(_Body):
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class AssignIn(_Body):
    user: str | None = Field(default=None, description="A username (operator, supervisor or admin).")
    agency: str | None = Field(default=None, description="An agency id, e.g. fire-119.")
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class ResolveIn(_Body):
    outcome: Outcome = Field(description="cleared/handled → resolved; false_alarm/duplicate → closed.")
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class TickIn(_Body):
    done: bool = True


class AlertOut(BaseModel):
    id: int
    rule_id: str
    alert_type: str
    title: str
    source: str
    severity: str
    state: str
    device_id: str | None
    zone: str | None
    related_devices: list[str]
    metric: str | None
    value: float | None
    count: int
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    assignee_user: str | None
    assignee_agency: str | None
    escalations: int
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: str | None
    last_seq: int
    rule_version: int | None = Field(
        default=None, description="Version of the rule that raised the alert (GET /api/v1/rules/{id}).")
    suggested_agency: str | None = Field(
        default=None, description="Agency id the rule suggests, e.g. fire-119 or the zone's office.")
    delivery: str | None = Field(
        default=None, description="State of the latest message to an agency: pending, delivered, failed.")


class ChangeOut(BaseModel):
    seq: int
    alert_id: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    severity: str
    details: dict[str, Any]


class SopItemOut(BaseModel):
    item_no: int
    text: str
    done: bool
    ticked_by: str | None
    ticked_at: datetime | None


class DeliveryOut(BaseModel):
    id: int
    agency_id: str
    status_code: str
    state: str
    attempts: int
    last_error: str | None
    response_status: int | None
    idempotency_key: str
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


class AlertDetail(AlertOut):
    timeline: list[ChangeOut]
    sop: list[SopItemOut]
    deliveries: list[DeliveryOut]


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class AgencyOut(BaseModel):
    id: str
    name: str
    kind: str
    code: str | None
    webhook_configured: bool
    enabled: bool


def alert_out(alert: Alert, delivery: str | None = None) -> AlertOut:
    return AlertOut(**_alert_fields(alert), delivery=delivery)


def _alert_fields(alert: Alert) -> dict[str, Any]:
    fields = {name: getattr(alert, name) for name in AlertOut.model_fields if name != "delivery"}
    fields["related_devices"] = list(alert.related_devices)
    return fields


def change_out(c: Change) -> ChangeOut:
    return ChangeOut(seq=c.seq, alert_id=c.alert_id, at=c.at, actor=c.actor, action=c.action,
                     from_state=c.from_state, to_state=c.to_state, severity=c.severity,
                     details=dict(c.details))


def sop_out(items: list[SopItem]) -> list[SopItemOut]:
    return [SopItemOut(item_no=i.item_no, text=i.text, done=i.done, ticked_by=i.ticked_by,
                       ticked_at=i.ticked_at) for i in items]


def delivery_out(d: Delivery) -> DeliveryOut:
    return DeliveryOut(**{name: getattr(d, name) for name in DeliveryOut.model_fields})


def detail_out(alert: Alert, timeline: list[Change], sop: list[SopItem],
               deliveries: list[Delivery]) -> AlertDetail:
    delivery = deliveries[-1].state if deliveries else None
    return AlertDetail(**_alert_fields(alert), delivery=delivery,
                       timeline=[change_out(c) for c in timeline], sop=sop_out(sop),
                       deliveries=[delivery_out(d) for d in deliveries])
