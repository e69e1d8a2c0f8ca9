"""The alert state machine, merging of repeats and the agency payload: pure, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.alerts import (
    Action,
    Alert,
    Occurrence,
    OpenNew,
    Repeat,
    Skip,
    apply,
    merge,
    repeat_dispatch,
)
from hub.dispatch_payload import build_payload, idempotency_key, platform_time
from hub.errors import Conflict, InvalidInput

T0 = datetime(2024, 5, 11, 7, 43, 24, 439000, tzinfo=UTC)


def alert(**kw: object) -> Alert:
    base = Alert(
        id=7, rule_id="pm10-high", alert_type="air_quality", title="PM10 above the alert level",
        source="rule", severity="warning", state="open", device_id="aq-1", zone="jung-gu",
        related_devices=(), metric="pm10", value=180.0, count=1, first_seen=T0, last_seen=T0,
        created_at=T0, updated_at=T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def occ(ts: datetime, severity: str = "warning", value: float = 180.0, device: str = "aq-1",
        related: tuple[str, ...] = ()) -> Occurrence:
    return Occurrence(rule_id="pm10-high", alert_type="air_quality", title="PM10", source="rule",
                      severity=severity, device_id=device, zone="jung-gu", ts=ts, metric="pm10",
                      value=value, related_devices=related)


def act(a: Alert, kind: str, **kw: str) -> Alert:
    """Apply an action and return the alert as the store would write it."""
    t = apply(a, Action(kind, actor="kim", **kw), T0 + timedelta(minutes=1))  # type: ignore[arg-type]
    return replace(a, state=t.to_state, severity=t.severity, **t.updates)  # type: ignore[arg-type]


# --- merging a repeating condition -------------------------------------------------------------

def test_first_occurrence_opens_an_alert() -> None:
    decision = merge(None, [occ(T0)])
    assert isinstance(decision, OpenNew)
    assert decision.count == 1
    assert decision.last_seen == T0


def test_repeat_on_a_live_alert_counts_and_moves_last_seen() -> None:
    later = T0 + timedelta(minutes=1)
    decision = merge(alert(), [occ(later, value=200.0)])
    assert decision == Repeat(alert_id=7, count=2, last_seen=later, severity="warning", value=200.0,
                              related_devices=(), severity_raised=False)


def test_repeat_raises_severity_but_never_lowers_it() -> None:
    raised = merge(alert(), [occ(T0 + timedelta(minutes=1), "critical", 320.0)])
    assert isinstance(raised, Repeat)
    assert (raised.severity, raised.severity_raised) == ("critical", True)
    kept = merge(alert(severity="critical"), [occ(T0 + timedelta(minutes=1), "warning")])
    assert isinstance(kept, Repeat)
    assert (kept.severity, kept.severity_raised) == ("critical", False)


def test_occurrences_already_counted_change_nothing() -> None:
    assert merge(alert(last_seen=T0), [occ(T0), occ(T0 - timedelta(seconds=5))]) == Skip()


def test_several_new_occurrences_count_each_once() -> None:
    times = [T0 + timedelta(seconds=s) for s in (30, 10, 20)]
    decision = merge(alert(), [occ(t) for t in times] + [occ(T0)])
    assert isinstance(decision, Repeat)
    assert decision.count == 4
    assert decision.last_seen == T0 + timedelta(seconds=30)


def test_a_resolved_alert_is_not_updated_a_new_one_opens() -> None:
    resolved = alert(state="resolved", outcome="cleared")
    decision = merge(resolved, [occ(T0 + timedelta(minutes=5))])
    assert isinstance(decision, OpenNew)
    assert decision.count == 1


def test_old_readings_never_reopen_a_resolved_alert() -> None:
    resolved = alert(state="closed", outcome="false_alarm", last_seen=T0)
    assert merge(resolved, [occ(T0 - timedelta(minutes=1))]) == Skip()


def test_related_devices_accumulate_without_the_alerts_own_device() -> None:
    decision = merge(alert(related_devices=("aq-2",)), [occ(T0 + timedelta(1), related=("aq-3", "aq-1"))])
    assert isinstance(decision, Repeat)
    assert decision.related_devices == ("aq-2", "aq-3")


# --- operator actions --------------------------------------------------------------------------

def test_lifecycle_open_acknowledged_assigned_resolved() -> None:
    a = act(alert(), "acknowledge")
    assert (a.state, a.acknowledged_by) == ("acknowledged", "kim")
    a = act(a, "assign", user="lee")
    assert (a.state, a.assignee_user) == ("assigned", "lee")
    a = act(a, "resolve", outcome="handled")
    assert (a.state, a.outcome, a.resolved_by) == ("resolved", "handled", "kim")


@pytest.mark.parametrize(("outcome", "state", "code"), [
    ("cleared", "resolved", "50"), ("handled", "resolved", "91"),
    ("false_alarm", "closed", "90"), ("duplicate", "closed", "90"),
])
def test_resolve_outcome_decides_final_state_and_agency_code(outcome: str, state: str, code: str) -> None:
    t = apply(alert(state="assigned", assignee_agency="fire-119"),
              Action("resolve", "kim", outcome=outcome), T0)
    assert t.to_state == state
    assert t.dispatch == (("fire-119", code),)


def test_assigning_an_open_alert_acknowledges_it() -> None:
    a = act(alert(), "assign", agency="fire-119")
    assert a.state == "assigned"
    assert a.acknowledged_at is not None


def test_assign_to_agency_sends_occurred_and_reassign_cancels_the_old_one() -> None:
    first = apply(alert(), Action("assign", "kim", agency="fire-119"), T0)
    assert first.dispatch == (("fire-119", "10"),)
    moved = apply(alert(state="assigned", assignee_agency="fire-119"),
                  Action("assign", "kim", agency="police-112"), T0)
    assert moved.dispatch == (("fire-119", "90"), ("police-112", "10"))
    to_user = apply(alert(state="assigned", assignee_agency="fire-119"),
                    Action("assign", "kim", user="lee"), T0)
    assert to_user.dispatch == (("fire-119", "90"),)
    assert to_user.updates["assignee_agency"] is None


def test_escalate_raises_one_step_and_tells_the_agency() -> None:
    t = apply(alert(severity="info", assignee_agency="fire-119", state="assigned"),
              Action("escalate", "kim"), T0)
    assert t.severity == "warning"
    assert t.updates["escalations"] == 1
    assert t.dispatch == (("fire-119", "40"),)


def test_reopen_returns_to_where_the_alert_was() -> None:
    assert act(alert(state="resolved", outcome="cleared"), "reopen").state == "open"
    acked = alert(state="closed", outcome="false_alarm", acknowledged_at=T0)
    assert act(acked, "reopen").state == "acknowledged"
    held = alert(state="resolved", outcome="handled", assignee_agency="fire-119")
    reopened = apply(held, Action("reopen", "park"), T0)
    assert reopened.to_state == "assigned"
    assert reopened.updates["outcome"] is None
    assert reopened.dispatch == (("fire-119", "40"),)


@pytest.mark.parametrize(("state", "kind", "kw", "why"), [
    ("resolved", "resolve", {"outcome": "cleared"}, "Reopen it first"),
    ("closed", "acknowledge", {}, "Reopen it first"),
    ("resolved", "assign", {"user": "lee"}, "Reopen it first"),
    ("closed", "escalate", {}, "Reopen it first"),
    ("acknowledged", "acknowledge", {}, "already acknowledged"),
    ("open", "reopen", {}, "nothing to reopen"),
])
def test_refused_transitions_say_why(state: str, kind: str, kw: dict[str, str], why: str) -> None:
    with pytest.raises(Conflict, match=why):
        apply(alert(state=state, outcome="cleared" if state in ("resolved", "closed") else None),
              Action(kind, "kim", **kw), T0)  # type: ignore[arg-type]


def test_escalating_a_critical_alert_is_refused() -> None:
    with pytest.raises(Conflict, match="already critical"):
        apply(alert(severity="critical"), Action("escalate", "kim"), T0)


def test_assigning_twice_to_the_same_assignee_is_refused() -> None:
    with pytest.raises(Conflict, match="already assigned to agency fire-119"):
        apply(alert(state="assigned", assignee_agency="fire-119"),
              Action("assign", "kim", agency="fire-119"), T0)


@pytest.mark.parametrize("action", [
    Action("assign", "kim"), Action("assign", "kim", user="lee", agency="fire-119"),
    Action("resolve", "kim", outcome="fixed"), Action("resolve", "kim"),
    Action("note", "kim", text="   "), Action("note", "kim", text="x" * 5000),
])
def test_bad_requests_are_invalid_input(action: Action) -> None:
    with pytest.raises(InvalidInput):
        apply(alert(), action, T0)


def test_notes_are_allowed_in_any_state_and_keep_it() -> None:
    t = apply(alert(state="closed", outcome="false_alarm"), Action("note", "kim", text=" checked again "), T0)
    assert (t.to_state, t.details) == ("closed", {"text": "checked again"})


def test_repeat_tells_the_agency_only_when_severity_rose() -> None:
    held = alert(state="assigned", assignee_agency="fire-119")
    same = merge(held, [occ(T0 + timedelta(1))])
    worse = merge(held, [occ(T0 + timedelta(1), "critical")])
    assert isinstance(same, Repeat)
    assert isinstance(worse, Repeat)
    assert repeat_dispatch(held, same) == ()
    assert repeat_dispatch(held, worse) == (("fire-119", "40"),)


# --- the payload an agency receives ------------------------------------------------------------

def test_payload_has_the_platform_shape() -> None:
    a = alert(severity="critical", state="assigned", assignee_agency="fire-119", count=3)
    body = build_payload(a, status_code="10", agency_id="fire-119", lon=126.9779, lat=37.5663,
                         changed_at=T0)
    ev = body["statEvet"]
    assert ev["statEvetId"] == "CITYHUB-0000000007"
    assert ev["statEvetGdCd"] == "1"
    assert ev["procSt"] == "10"
    assert ev["outbPos"] == [{"x": "126.977900", "y": "37.566300"}]
    # 07:43 UTC is 16:43 in Seoul.
    assert ev["statEvetOutbDtm"] == "20240511164324439"
    assert ev["statEvetClrDtm"] == ""
    assert body["cityhub"]["status"] == "occurred"


def test_payload_without_a_location_has_no_position_and_cleared_has_a_clear_time() -> None:
    a = alert(state="resolved", outcome="cleared", resolved_at=T0 + timedelta(hours=1))
    ev = build_payload(a, status_code="50", agency_id="x", lon=None, lat=None, changed_at=T0)["statEvet"]
    assert ev["outbPos"] == []
    assert ev["statEvetClrDtm"] == platform_time(T0 + timedelta(hours=1))


def test_payload_refuses_an_unknown_status_code() -> None:
    with pytest.raises(ValueError, match="status code"):
        build_payload(alert(), status_code="20", agency_id="x", lon=None, lat=None, changed_at=T0)


def test_idempotency_key_is_stable_per_change_and_agency() -> None:
    assert idempotency_key(7, 100, "fire-119") == "cityhub-7-100-fire-119"
    assert idempotency_key(7, 100, "fire-119") != idempotency_key(7, 101, "fire-119")
