"""Alerts as values: states, the transitions operators may make, and merging repeats. Pure.

States::

    open ──acknowledge──► acknowledged ──assign──► assigned ──resolve──► resolved | closed
      └──────────────assign──────────────────────────┘  ▲                     │
                                                        └──────reopen─────────┘

``resolve`` takes an outcome: ``cleared`` and ``handled`` end in *resolved*,
``false_alarm`` and ``duplicate`` in *closed*. ``reopen`` returns an alert to where
it stood before it was resolved. ``escalate`` raises the severity one step and
``note`` adds text; neither changes the state. A condition that repeats on the same
device and rule while its alert is live updates that alert (count, last seen,
severity only upwards) instead of opening another.

Refusals raise :class:`hub.errors.Conflict` (the alert's state forbids it) or
:class:`hub.errors.InvalidInput` (the request itself is wrong), with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from hub.errors import Conflict, InvalidInput

SEVERITIES = ("info", "warning", "critical")
STATES = ("open", "acknowledged", "assigned", "resolved", "closed")
LIVE_STATES = frozenset({"open", "acknowledged", "assigned"})
SOURCES = ("rule", "device", "cctv")
# Occurrence status codes of the integrated platform's event messages.
OCCURRED, UPDATED, CLEARED, CANCELLED, COMPLETED = "10", "40", "50", "90", "91"
# outcome → (final state, occurrence status code sent to an assigned agency)
OUTCOMES: Mapping[str, tuple[str, str]] = {
    "cleared": ("resolved", CLEARED),
    "handled": ("resolved", COMPLETED),
    "false_alarm": ("closed", CANCELLED),
    "duplicate": ("closed", CANCELLED),
}
NOTE_MAX = 4000

ActionKind = Literal["acknowledge", "assign", "escalate", "note", "resolve", "reopen"]
ACTIONS: tuple[ActionKind, ...] = ("acknowledge", "assign", "escalate", "note", "resolve", "reopen")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def higher(a: str, b: str) -> str:
    return a if severity_rank(a) >= severity_rank(b) else b


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    rule_id: str
    alert_type: str
    title: str
    source: str
    severity: str
    state: str
    device_id: str | None
    zone: str | None
    related_devices: tuple[str, ...]
    metric: str | None
    value: float | None
    count: int
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    assignee_user: str | None = None
    assignee_agency: str | None = None
    escalations: int = 0
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    outcome: str | None = None
    last_seq: int = 0
    # The version of the rule that raised it and the agency that rule suggests (migration 0016);
    # None for alerts raised before rules were versioned, or not by a rule.
    rule_version: int | None = None
    suggested_agency: str | None = None

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One observation of a condition: a reading over a threshold, or a device event."""

    rule_id: str
    alert_type: str
    title: str
    source: str
    severity: str
    device_id: str
    zone: str | None
    ts: datetime
    metric: str | None = None
    value: float | None = None
    related_devices: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.device_id, self.rule_id)


@dataclass(frozen=True, slots=True)
class Skip:
    """Nothing new: every occurrence was already counted (a redelivery or a catch-up overlap)."""


@dataclass(frozen=True, slots=True)
class OpenNew:
    first: Occurrence
    count: int
    last_seen: datetime
    severity: str
    value: float | None
    related_devices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Repeat:
    alert_id: int
    count: int
    last_seen: datetime
    severity: str
    value: float | None
    related_devices: tuple[str, ...]
    severity_raised: bool


Merge = Skip | OpenNew | Repeat


def merge(latest: Alert | None, occurrences: Sequence[Occurrence]) -> Merge:
    """What *occurrences* of one device and rule do, given that pair's most recent alert.

    Occurrences no newer than the latest alert's ``last_seen`` were counted already,
    so evaluating the same readings twice (catch-up after a restart, a redelivered
    batch) changes nothing, and a resolved alert is never reopened by old readings.
    """
    fresh = sorted(
        (o for o in occurrences if latest is None or o.ts > latest.last_seen), key=lambda o: o.ts
    )
    if not fresh:
        return Skip()
    severity = fresh[0].severity
    related: set[str] = set()
    for o in fresh:
        severity = higher(severity, o.severity)
        related.update(o.related_devices)
    last = fresh[-1]
    if latest is not None and latest.live:
        raised = severity_rank(severity) > severity_rank(latest.severity)
        related.update(latest.related_devices)
        related.discard(latest.device_id or "")
        return Repeat(
            alert_id=latest.id, count=latest.count + len(fresh), last_seen=last.ts,
            severity=higher(latest.severity, severity), value=last.value,
            related_devices=tuple(sorted(related)), severity_raised=raised,
        )
    related.discard(last.device_id)
    return OpenNew(first=fresh[0], count=len(fresh), last_seen=last.ts, severity=severity,
                   value=last.value, related_devices=tuple(sorted(related)))


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    actor: str
    user: str | None = None
    agency: str | None = None
    outcome: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of an action: the new state, the columns to set, what agencies must hear."""

    action: str
    from_state: str
    to_state: str
    severity: str
    updates: Mapping[str, object]
    details: Mapping[str, object]
    # (agency id, occurrence status code), in the order they must be sent
    dispatch: tuple[tuple[str, str], ...] = field(default=())


def _note_text(text: str | None, *, required: bool) -> str | None:
    cleaned = (text or "").strip()
    if not cleaned:
        if required:
            raise InvalidInput("A note needs some text.")
        return None
    if len(cleaned) > NOTE_MAX:
        raise InvalidInput(f"A note is at most {NOTE_MAX} characters; this one has {len(cleaned)}.")
    return cleaned


def _require_live(alert: Alert, verb: str) -> None:
    if not alert.live:
        raise Conflict(
            f"Alert {alert.id} is {alert.state} ({alert.outcome or 'no outcome'}); "
            f"it cannot be {verb}. Reopen it first."
        )


def apply(alert: Alert, action: Action, now: datetime) -> Transition:
    """The transition *action* makes on *alert* at *now*, or the reason it is refused."""
    if action.kind == "acknowledge":
        return _acknowledge(alert, action, now)
    if action.kind == "assign":
        return _assign(alert, action, now)
    if action.kind == "escalate":
        return _escalate(alert, action)
    if action.kind == "note":
        text = _note_text(action.text, required=True)
        return Transition("note", alert.state, alert.state, alert.severity, {}, {"text": text})
    if action.kind == "resolve":
        return _resolve(alert, action, now)
    if action.kind == "reopen":
        return _reopen(alert, action)
    raise InvalidInput(f"Unknown action {action.kind!r}; known: {', '.join(ACTIONS)}.")


def _acknowledge(alert: Alert, action: Action, now: datetime) -> Transition:
    _require_live(alert, "acknowledged")
    if alert.state != "open":
        raise Conflict(
            f"Alert {alert.id} was already acknowledged by {alert.acknowledged_by or 'someone'}"
            f" (it is {alert.state})."
        )
    return Transition("acknowledge", alert.state, "acknowledged", alert.severity,
                      {"acknowledged_at": now, "acknowledged_by": action.actor}, {})


def _assign(alert: Alert, action: Action, now: datetime) -> Transition:
    _require_live(alert, "assigned")
    user = (action.user or "").strip() or None
    agency = (action.agency or "").strip() or None
    if (user is None) == (agency is None):
        raise InvalidInput("Assign to exactly one of a user or an agency.")
    if user is not None and user == alert.assignee_user:
        raise Conflict(f"Alert {alert.id} is already assigned to user {user}.")
    if agency is not None and agency == alert.assignee_agency:
        raise Conflict(f"Alert {alert.id} is already assigned to agency {agency}.")
    updates: dict[str, object] = {"assignee_user": user, "assignee_agency": agency}
    if alert.acknowledged_at is None:
        # Taking an alert on is acknowledging it; the time to acknowledge counts from here.
        updates.update(acknowledged_at=now, acknowledged_by=action.actor)
    dispatch: list[tuple[str, str]] = []
    if alert.assignee_agency is not None:
        dispatch.append((alert.assignee_agency, CANCELLED))
    if agency is not None:
        dispatch.append((agency, OCCURRED))
    details: dict[str, object] = {"user": user} if user is not None else {"agency": agency}
    if alert.assignee_user or alert.assignee_agency:
        details["previous"] = alert.assignee_user or alert.assignee_agency
    text = _note_text(action.text, required=False)
    if text:
        details["text"] = text
    return Transition("assign", alert.state, "assigned", alert.severity, updates, details,
                      tuple(dispatch))


def _escalate(alert: Alert, action: Action) -> Transition:
    _require_live(alert, "escalated")
    rank = severity_rank(alert.severity)
    if rank == len(SEVERITIES) - 1:
        raise Conflict(f"Alert {alert.id} is already critical; it cannot be escalated further.")
    severity = SEVERITIES[rank + 1]
    details: dict[str, object] = {"from_severity": alert.severity, "to_severity": severity}
    text = _note_text(action.text, required=False)
    if text:
        details["text"] = text
    dispatch = ((alert.assignee_agency, UPDATED),) if alert.assignee_agency else ()
    return Transition("escalate", alert.state, alert.state, severity,
                      {"severity": severity, "escalations": alert.escalations + 1}, details, dispatch)


def _resolve(alert: Alert, action: Action, now: datetime) -> Transition:
    _require_live(alert, "resolved")
    if action.outcome is None or action.outcome not in OUTCOMES:
        raise InvalidInput(
            f"Unknown outcome {action.outcome!r}; give one of: {', '.join(OUTCOMES)}."
        )
    state, code = OUTCOMES[action.outcome]
    details: dict[str, object] = {"outcome": action.outcome}
    text = _note_text(action.text, required=False)
    if text:
        details["text"] = text
    dispatch = ((alert.assignee_agency, code),) if alert.assignee_agency else ()
    return Transition("resolve", alert.state, state, alert.severity,
                      {"resolved_at": now, "resolved_by": action.actor, "outcome": action.outcome},
                      details, dispatch)


def _reopen(alert: Alert, action: Action) -> Transition:
    if alert.live:
        raise Conflict(f"Alert {alert.id} is {alert.state}, not resolved or closed; nothing to reopen.")
    if alert.assignee_user or alert.assignee_agency:
        state = "assigned"
    elif alert.acknowledged_at is not None:
        state = "acknowledged"
    else:
        state = "open"
    details: dict[str, object] = {"previous_outcome": alert.outcome}
    text = _note_text(action.text, required=False)
    if text:
        details["text"] = text
    dispatch = ((alert.assignee_agency, UPDATED),) if alert.assignee_agency else ()
    return Transition("reopen", alert.state, state, alert.severity,
                      {"resolved_at": None, "resolved_by": None, "outcome": None}, details, dispatch)


def repeat_dispatch(alert: Alert, repeat: Repeat) -> tuple[tuple[str, str], ...]:
    """An assigned agency hears of a repeat only when it made the alert more severe."""
    if repeat.severity_raised and alert.assignee_agency:
        return ((alert.assignee_agency, UPDATED),)
    return ()
