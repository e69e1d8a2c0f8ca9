"""The demo of `cityhub up`: something to look at in the first minute, and every few minutes after.

Pure: the demo scenario resolved against the demo fleet of `cityhub up`, and the
simulator driven the way the engine drives it under `cityhub up` (every device on its
turn every 4 s: 40 devices at --rate 10).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analytics.engine import Engine, Raised, VersionedRule
from analytics.rules import ReadingRow
from analytics.spec import parse
from devices.sim.fleet import SimDevice
from devices.sim.scenarios import scenario
from devices.sim.schedule import Anomaly, Schedule
from devices.sim.simulator import BUILTIN_EVENT_RULES, Control, Outgoing, Simulator, expected_alert
from hub.catalogue import load_catalogue
from hub.cli.up import DEMO_DEVICES
from tests.devices.sim_helpers import START

MINUTE = 60.0
# The PM10 advisory level (주의보) of the built-in rule pm10-fine-dust (docs/analytics.md).
PM10_ALERT_LEVEL = 150.0
MIGRATIONS = Path(__file__).resolve().parents[2] / "hub" / "migrations"
TURN_S = len(DEMO_DEVICES) / 10.0  # `cityhub up` runs `cityhub simulate --rate 10`

CCTV_EVENTS = {name: e.severity for name, e in load_catalogue().kinds["cctv"].events.items()}


def demo_fleet() -> list[SimDevice]:
    return [SimDevice(*row) for row in DEMO_DEVICES]


def raises_an_alert(a: Anomaly) -> bool:
    """A camera event of a type the catalogue gives a severity: analytics makes it an alert."""
    return a.label == "cctv_event" and a.text("type", "") in CCTV_EVENTS


def starts(schedule: Schedule, until: float) -> list[Anomaly]:
    return [tr.anomaly for tr in schedule.transitions(until) if tr.starting]


def test_an_alert_raising_incident_starts_in_the_first_minute_of_the_demo() -> None:
    schedule = Schedule(scenario(["demo"]), demo_fleet(), seed=1, start=START)
    first_minute = starts(schedule, START + MINUTE)
    alerting = [a for a in first_minute if raises_an_alert(a)]
    assert alerting, "nothing in the demo's first minute raises an alert"
    assert any(CCTV_EVENTS[a.text("type", "")] in ("warning", "critical") for a in alerting)
    # And a device drops off the map.
    assert "offline" in {a.label for a in first_minute}


def test_the_demo_stays_lively_an_alert_raising_incident_every_ten_minutes_for_two_cycles() -> None:
    demo = scenario(["demo"])
    assert demo.repeat_s is not None
    schedule = Schedule(demo, demo_fleet(), seed=1, start=START)
    alerting = sorted(a.start - START for a in starts(schedule, START + 2 * demo.repeat_s)
                      if raises_an_alert(a))
    windows = range(int(2 * demo.repeat_s // (10 * MINUTE)))
    quiet = [w for w in windows
             if not any(w * 10 * MINUTE <= s < (w + 1) * 10 * MINUTE for s in alerting)]
    assert quiet == [], f"10-minute windows without an alert-raising incident: {quiet}"


def test_every_camera_incident_of_the_demo_finds_a_camera_though_there_are_only_four() -> None:
    demo = scenario(["demo"])
    fleet = demo_fleet()
    cameras = [d for d in fleet if d.kind == "cctv"]
    wanted = sum(1 for i in demo.injections if i.label == "cctv_event")
    assert wanted > len(cameras)
    schedule = Schedule(demo, fleet, seed=1, start=START)
    resolved = [a for a in schedule.base if a.label == "cctv_event"]
    assert len(resolved) == wanted
    # Still never two anomalies of one label on one device at the same time.
    for label in {a.label for a in schedule.base}:
        same = [a for a in schedule.base if a.label == label and a.end != math.inf]
        for n, a in enumerate(same):
            for b in same[n + 1:]:
                if set(a.device_ids) & set(b.device_ids):
                    assert a.end <= b.start or b.end <= a.start, (label, a, b)


def run_like_cityhub_up(sim: Simulator, fleet: list[SimDevice],
                        seconds: float) -> tuple[list[tuple[float, Outgoing]], list[Control]]:
    """Turns as the engine hands them out at speed 1: round-robin, one every TURN_S / n."""
    out: list[tuple[float, Outgoing]] = []
    controls: list[Control] = []
    announced: set[str] = set()
    step = TURN_S / len(fleet)
    for n in range(int(seconds / step) + 1):
        t = START + n * step
        controls.extend(sim.transitions(t))
        device = fleet[n % len(fleet)]
        if device.id not in announced:  # a device's first turn only announces it
            announced.add(device.id)
        elif device.id not in sim.offline:
            out.extend((t, m) for m in sim.report(device.id, t))
    return out, controls


def test_in_the_first_minute_the_demo_publishes_an_alerting_event_and_a_reading_over_the_pm10_level() -> None:
    fleet = demo_fleet()
    kinds = load_catalogue().kinds
    sim = Simulator(fleet, kinds, scenario(["demo"]), seed=1, start=START)
    out, controls = run_like_cityhub_up(sim, fleet, MINUTE)
    events = [(t, msg) for t, msg in out if msg.topic.endswith("/events")]
    alerting = [msg for _, msg in events
                if CCTV_EVENTS.get(_field(msg, "type"), "info") in ("warning", "critical")]
    assert alerting, [msg.payload for _, msg in events]
    pm10 = [_number(msg, "pm10") for _, msg in out if msg.topic.endswith("/telemetry")]
    assert max(v for v in pm10 if v is not None) > PM10_ALERT_LEVEL
    assert Counter(c.action for c in controls)["drop"] >= 1
    # Each one-shot camera incident is recorded as ground truth with what the hub should do.
    truth = [r for r in sim.truth if r.label == "cctv_event"]
    assert truth
    for r in truth:
        name = str(r.details["type"])
        assert r.details["expected"] == expected_alert(name, CCTV_EVENTS[name])
    assert {str(r.details["expected"]) for r in truth} == {"alert event:abandoned_object (warning)"}


def _builtin_rule_docs() -> list[dict[str, Any]]:
    """The rule documents migrations 0016 and 0017 seed (0017's cctv-fall takes falls over
    from cctv-police)."""
    text = "".join((MIGRATIONS / name).read_text(encoding="utf-8")
                   for name in ("0016_rules.sql", "0017_fall_sop.sql"))
    return [json.loads(doc) for doc in re.findall(r"\$json\$(.*?)\$json\$", text, re.S)]


def _builtin_event_rules() -> dict[str, tuple[str, str]]:
    """Event type → (rule id, severity) of the built-in event_map rules."""
    specs = _builtin_rule_docs()
    return {event: (spec["id"], action["severity"]) for spec in specs if spec["kind"] == "event_map"
            for event, action in spec["events"].items()}


def test_ground_truth_names_the_rule_ids_the_hub_raises_camera_events_under() -> None:
    seeded = _builtin_event_rules()
    assert seeded == BUILTIN_EVENT_RULES
    assert expected_alert("fall", "critical") == "alert cctv-fall:fall (critical)"
    assert expected_alert("fire", "critical") == "alert cctv-fire:fire (critical)"
    assert expected_alert("illegal_parking", "info") == "alert cctv-parking:illegal_parking (info)"
    # Events no rule maps keep the catalogue's severity under event:<type>.
    assert "loitering" not in seeded
    assert expected_alert("loitering", CCTV_EVENTS["loitering"]) == "alert event:loitering (warning)"


def _field(msg: Outgoing, name: str) -> str:
    value = json.loads(msg.payload).get(name)
    return value if isinstance(value, str) else ""


def _number(msg: Outgoing, name: str) -> float | None:
    value = json.loads(msg.payload).get(name)
    return float(value) if isinstance(value, int | float) else None


def _readings(fleet: list[SimDevice], out: list[tuple[float, Outgoing]]) -> list[ReadingRow]:
    """The demo's air-quality telemetry as the rows analytics reads."""
    zones = {d.id: d.zone for d in fleet if d.kind == "air_quality"}
    rows = []
    for t, msg in out:
        device_id = msg.topic.split("/")[2]
        if device_id not in zones or not msg.topic.endswith("/telemetry"):
            continue
        ts = datetime.fromtimestamp(t, UTC)
        for metric, value in json.loads(msg.payload).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows.append(ReadingRow(ts, device_id, "air_quality", zones[device_id], metric, float(value)))
    return rows


def test_in_its_first_hour_the_demo_raises_an_ozone_advisory_but_no_warning() -> None:
    fleet = demo_fleet()
    catalogue = load_catalogue()
    sim = Simulator(fleet, catalogue.kinds, scenario(["demo"]), seed=1, start=START)
    out, _ = run_like_cityhub_up(sim, fleet, 60 * MINUTE)
    rules = [VersionedRule(parse(doc), 1) for doc in _builtin_rule_docs()]
    engine = Engine(rules, {name: kind.interval_s for name, kind in catalogue.kinds.items()})
    raised = [s.occurrence for s in engine.feed(_readings(fleet, out)) if isinstance(s, Raised)]
    ozone = [o for o in raised if o.rule_id == "o3-ozone-alert"]
    # City-wide: every district issues its advisory (주의보) in the hour; none a warning.
    assert {o.zone for o in ozone} == {d.zone for d in fleet if d.kind == "air_quality"}
    assert {o.severity for o in ozone} == {"warning"}
    # The fine-dust advisories need two hours over their level: none in the first hour.
    assert not [o for o in raised if o.rule_id in ("pm10-fine-dust", "pm25-fine-dust")]
