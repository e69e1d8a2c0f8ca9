"""Named scenarios: what to inject, into which devices, when. Data, not engine code.

An ``Injection`` names a ground-truth label, the kind of device it targets, when it
starts (simulated seconds after the start of the run) and how long it lasts, how many
devices it takes (0 = every device of the kind; devices are drawn with the seed) and
its parameters. Adding a scenario is adding an entry to ``SCENARIOS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from devices.sim.errors import SimulationError

MIN = 60.0
HOUR = 3600.0

# Ground-truth labels of faults in a sensor's values (devices/sim/faults.py).
SENSOR_FAULTS = frozenset({"stuck_value", "drift", "spike", "dropout"})
# Done once, at the device's first report inside the window (their truth: that moment).
ONE_SHOT = frozenset({"malformed", "duplicate", "burst", "cctv_event"})


@dataclass(frozen=True, slots=True)
class Injection:
    label: str
    kind: str
    at_s: float
    duration_s: float
    devices: int = 1
    params: Mapping[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    injections: tuple[Injection, ...] = ()
    # Without --start, begin at the latest such Seoul time (a night-time fire at night).
    start_local: str | None = None
    # Inject again every so many simulated seconds (long-running demo), same devices.
    repeat_s: float | None = None


_FAULTS = (
    Injection("malformed", "air_quality", 30, MIN, devices=2, params={"form": "truncated_json"}),
    Injection("malformed", "smart_meter", 30, MIN, devices=1, params={"form": "not_a_number"}),
    Injection("malformed", "cctv", 30, MIN, devices=1, params={"form": "unknown_event"}),
    Injection("duplicate", "air_quality", 40, MIN, devices=2),
    Injection("offline", "air_quality", 60, 4 * MIN, devices=1),
    Injection("offline", "cctv", 90, 4 * MIN, devices=1),
    Injection("clock_skew", "air_quality", 2 * MIN, 10 * MIN, devices=1, params={"skew_s": 900}),
    Injection("burst", "smart_meter", 3 * MIN, MIN, devices=1, params={"count": 100}),
    Injection("stuck_value", "air_quality", 5 * MIN, 2 * HOUR, devices=1, params={"metric": "pm25"}),
    Injection("drift", "air_quality", 5 * MIN, 12 * HOUR, devices=1,
              params={"metric": "o3", "per_hour": 0.004}),
    Injection("spike", "air_quality", 5 * MIN, 2 * HOUR, devices=1,
              params={"metric": "pm10", "probability": 0.2, "factor": 8}),
    Injection("dropout", "air_quality", 10 * MIN, 30 * MIN, devices=1),
)

_METERS = (
    Injection("theft", "smart_meter", 30 * MIN, 3 * 24 * HOUR, devices=2, params={"factor": 0.25}),
    Injection("meter_fault", "smart_meter", HOUR, 2 * HOUR, devices=1),
    Injection("inactive_household", "smart_meter", 2 * HOUR, 24 * HOUR, devices=1),
)

# PM10 readings of at least 180 µg/m³ even on a clean day: a rise the built-in rule
# pm10-sudden-rise raises (≥ 100 µg/m³ within 10 minutes), over the 150 µg/m³ advisory level.
_PM10_SPIKE: dict[str, float | str] = {"metric": "pm10", "probability": 1.0, "factor": 6.0, "at_least": 180.0}

# What a newcomer sees in the first minute of `cityhub up` (each device reports every
# few seconds there): an alert from a camera, a station over the PM10 alert level, a
# camera dropping off the map, and a payload the hub refuses (`cityhub ingest rejects`).
_DEMO_OPENING = (
    Injection("cctv_event", "cctv", 10, MIN, params={"type": "abandoned_object"}),
    Injection("spike", "air_quality", 25, 3 * MIN, params=_PM10_SPIKE),
    Injection("offline", "cctv", 40, 3 * MIN),
    Injection("malformed", "air_quality", 50, MIN, params={"form": "out_of_range"}),
)

# Then one short incident every five minutes, in this order, round and round: most raise
# an alert (rule pm10-sudden-rise, or a camera event: cctv-fall:fall, cctv-parking:illegal_parking,
# event:loitering...), the others show on the map or in the dead letters.
_DEMO_ROUND = (
    Injection("cctv_event", "cctv", 0, MIN, params={"type": "loitering"}),
    Injection("spike", "air_quality", 0, 3 * MIN, params=_PM10_SPIKE),
    Injection("cctv_event", "cctv", 0, MIN, params={"type": "fall"}),
    Injection("offline", "air_quality", 0, 3 * MIN),
    Injection("cctv_event", "cctv", 0, MIN, params={"type": "illegal_parking"}),
    Injection("spike", "air_quality", 0, 3 * MIN,
              params={"metric": "pm25", "probability": 1.0, "factor": 5.0, "at_least": 90.0}),
    Injection("cctv_event", "cctv", 0, MIN, params={"type": "intrusion"}),
    Injection("malformed", "smart_meter", 0, MIN, params={"form": "not_a_number"}),
)


def _demo_round(every_s: float, until_s: float) -> tuple[Injection, ...]:
    """``_DEMO_ROUND`` laid out every *every_s* seconds, from *every_s* until before *until_s*."""
    starts = [every_s * n for n in range(1, int(until_s // every_s) + 1) if every_s * n < until_s]
    return tuple(replace(_DEMO_ROUND[n % len(_DEMO_ROUND)], at_s=at) for n, at in enumerate(starts))


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("normal", "Ordinary days: daily and weekly cycles, Poisson CCTV events, no anomalies."),
    Scenario(
        "asian-dust",
        "An Asian-dust day: a plume from the west raises PM10 above 150 µg/m³ for hours.",
        (Injection("asian_dust", "air_quality", 30 * MIN, 8 * HOUR, devices=0,
                   params={"peak": 320.0, "ramp_s": 1.5 * HOUR, "speed_kmh": 20.0}),),
        start_local="06:00",
    ),
    Scenario(
        "ozone",
        "A summer ozone afternoon: O3 above the 0.12 ppm warning level across the city.",
        (Injection("ozone_episode", "air_quality", HOUR, 6 * HOUR, devices=0,
                   params={"peak": 0.16}),),
        start_local="11:00",
    ),
    Scenario(
        "station-crowd",
        "A crowd builds up at a station exit after an event and disperses.",
        (Injection("crowd_build_up", "cctv", 5 * MIN, 90 * MIN,
                   params={"peak": 900.0, "threshold": 300.0}),),
        start_local="21:30",
    ),
    Scenario(
        "night-fire",
        "Smoke, then fire, seen by a camera at night.",
        (Injection("night_fire", "cctv", 2 * MIN, 30 * MIN),),
        start_local="02:00",
    ),
    Scenario("faults", "Sensor and transport faults: stuck, drift, spikes, dropouts, malformed "
             "payloads, clock skew, duplicates, a burst, devices going offline and back.", _FAULTS),
    Scenario("meters", "Smart-meter anomalies: theft, a meter fault, an inactive single-person "
             "household.", _METERS),
    Scenario(
        "demo",
        "For `cityhub up`: alerts from the first minute, a short incident every five minutes, "
        "a short ozone episode, a crowd, a short dust episode, a theft and a fire; again every "
        "six hours.",
        _DEMO_OPENING + _demo_round(5 * MIN, 6 * HOUR) + (
            # City-wide, so the neighbours agree (an episode, not a sensor fault): the 1-hour
            # mean passes the 0.12 ppm advisory level about half an hour in and stays below the
            # 0.3 ppm warning; the fine-dust advisories need two hours over their level.
            Injection("ozone_episode", "air_quality", 5 * MIN, HOUR, devices=0, params={"peak": 0.22}),
            Injection("crowd_build_up", "cctv", 10 * MIN, 60 * MIN,
                      params={"peak": 700.0, "threshold": 300.0}),
            Injection("asian_dust", "air_quality", 20 * MIN, 3 * HOUR, devices=0,
                      params={"peak": 260.0, "ramp_s": 40 * MIN, "speed_kmh": 20.0}),
            Injection("theft", "smart_meter", 30 * MIN, 4 * HOUR, params={"factor": 0.3}),
            # A meter anomaly the untrained detector sees at once (register reset, voltage sag):
            # theft needs a day of the meter's own history first (docs/analytics.md).
            Injection("meter_fault", "smart_meter", 20 * MIN, 30 * MIN),
            Injection("night_fire", "cctv", 4 * HOUR, 20 * MIN),
        ),
        repeat_s=6 * HOUR,
    ),
)}


def scenario(names: list[str]) -> Scenario:
    """The named scenario, or several combined (their injections together)."""
    picked: list[Scenario] = []
    for name in names or ["normal"]:
        if name not in SCENARIOS:
            raise SimulationError(
                f"Unknown scenario {name!r}; scenarios: {', '.join(SCENARIOS)}."
            )
        picked.append(SCENARIOS[name])
    if len(picked) == 1:
        return picked[0]
    return Scenario(
        "+".join(s.name for s in picked),
        "; ".join(s.description for s in picked),
        tuple(i for s in picked for i in s.injections),
        start_local=next((s.start_local for s in picked if s.start_local), None),
        repeat_s=next((s.repeat_s for s in picked if s.repeat_s), None),
    )
