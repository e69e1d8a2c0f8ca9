"""`cityhub simulate`: simulated air-quality stations, smart meters and CCTV cameras."""

from __future__ import annotations

import json
import logging
import secrets
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from devices.sim.clock import iso
from devices.sim.engine import Engine, EngineOptions, Stats
from devices.sim.errors import SimulationError
from devices.sim.fleet import build_fleet, load_devices_file, parse_counts
from devices.sim.groundtruth import GroundTruthWriter
from devices.sim.scenarios import SCENARIOS, scenario
from devices.sim.setup import make_clock, periods
from devices.sim.simulator import Simulator
from devices.sim.zones import zones_named

log = logging.getLogger(__name__)
_errors = Console(stderr=True, highlight=False)
_SCENARIO_HELP = "Scenario(s) to run, combinable: " + ", ".join(SCENARIOS) + " (see docs/simulate.md)."


def _line(stats: Stats, started: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-9)
    return (f"sent {stats.sent:,} · acked {stats.acked:,} · {stats.sent / elapsed:,.0f} msg/s · "
            f"{stats.online:,}/{stats.devices:,} devices online · simulated {iso(stats.sim_time)[:19]} · "
            f"ground truth {stats.truth}")


def simulate_command(
    mqtt_url: Annotated[str, typer.Option(envvar="CITYHUB_MQTT_URL",
                                          help="mqtt://user:password@host:port")],
    air_quality: Annotated[int, typer.Option(min=0, help="Air-quality stations.")] = 0,
    smart_meter: Annotated[int, typer.Option(min=0, help="Household smart meters.")] = 0,
    cctv: Annotated[int, typer.Option(min=0, help="CCTV cameras.")] = 0,
    devices: Annotated[list[str] | None, typer.Option(
        help="KIND=COUNT, repeatable (air_quality, smart_meter, cctv; or aq, meter).")] = None,
    devices_file: Annotated[Path | None, typer.Option(
        help="JSON list of {id, kind, zone, lat, lon} to simulate instead of counts.")] = None,
    zones: Annotated[str, typer.Option(help="Seoul districts to place devices in, e.g. "
                                            "jung,mapo,gangnam; 'all' for 25.")] = "all",
    scenario_names: Annotated[list[str] | None, typer.Option(
        "--scenario", help=_SCENARIO_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed of ids, placement, models and faults.")] = 1,
    rate: Annotated[float, typer.Option(
        min=0, help="Reports per wall second, all devices together; 0 = each device on its "
                    "kind's interval (hub/kinds.json) divided by --speed.")] = 0.0,
    speed: Annotated[float, typer.Option(
        min=0.001, help="Simulated seconds per wall second (60: a simulated hour a minute).")] = 1.0,
    start: Annotated[str | None, typer.Option(
        help="Simulated start, ISO-8601 (naive = Seoul time). Default: now, or the recent "
             "past when --speed > 1 so that the run ends near now.")] = None,
    duration: Annotated[float, typer.Option(min=0, help="Wall seconds to run; 0 = until Ctrl-C.")]
    = 0.0,
    ground_truth: Annotated[Path | None, typer.Option(
        help="JSONL file of injected anomalies (appended). Default: "
             "<state dir>/ground-truth.jsonl.")] = None,
    register: Annotated[bool, typer.Option(
        help="Register missing devices in the hub first (needs CITYHUB_DATABASE_URL).")] = False,
    window: Annotated[int, typer.Option(min=1, max=65_000,
                                        help="Unacknowledged messages allowed in flight.")] = 2000,
    stats_file: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Simulate air-quality stations, smart meters and CCTV cameras over MQTT.

    Examples: `cityhub simulate --air-quality 50 --smart-meter 200 --cctv 20`;
    `cityhub simulate --air-quality 25 --scenario asian-dust --speed 60 --duration 600`.
    """
    from hub.catalogue import load_catalogue
    from hub.errors import HubError
    from hub.settings import load_settings

    try:
        settings = load_settings(mqtt_url=mqtt_url)
        target = settings.mqtt_target()
        chosen = scenario(scenario_names or [])
        counts = parse_counts(devices or [])
        for kind, count in (("air_quality", air_quality), ("smart_meter", smart_meter), ("cctv", cctv)):
            if count:
                counts[kind] = counts.get(kind, 0) + count
        if devices_file is not None:
            if counts:
                raise SimulationError("Give either --devices-file or device counts, not both.")
            fleet = load_devices_file(devices_file)
        else:
            fleet = build_fleet(counts or {"air_quality": 10, "smart_meter": 20, "cctv": 5},
                                seed, zones_named(zones))
        if not fleet:
            raise SimulationError("No devices to simulate: give counts, e.g. --air-quality 10.")
        catalogue = load_catalogue(settings.kinds_file)
        kinds = catalogue.kinds
        if register:
            from devices.sim.register import register_missing, register_welfare

            added = register_missing(settings.require_database(), catalogue, fleet,
                                     keys=settings.device_token_keys())
            _errors.print(f"registered {added} new device(s)")
            register_welfare(settings.require_database(), fleet, seed)  # docs/analytics.md
        now = time.time()
        clock = make_clock(now, speed, duration, start, chosen)
        sim = Simulator(fleet, kinds, chosen, seed, clock.start)
        truth_path = ground_truth or settings.state_dir / "ground-truth.jsonl"
        truth = GroundTruthWriter(truth_path, secrets.token_hex(4))
        options = EngineOptions(target, periods(fleet, kinds, speed, rate), duration, window)
        engine = Engine(sim, fleet, clock, options, truth)
    except (SimulationError, HubError, ValueError) as exc:
        _errors.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("simulating %d device(s), scenario %s, ground truth in %s", len(fleet), chosen.name,
             truth_path)
    started = time.monotonic()
    try:
        if sys.stdout.isatty():
            with Live("connecting …", refresh_per_second=4, transient=False) as live:
                final = engine.run(stop, lambda s: live.update(_line(s, started)))
                live.update(_line(final, started))
        else:
            final = engine.run(stop)
    except OSError as exc:
        _errors.print(f"[red]error:[/red] cannot publish to {target.host}:{target.port}: {exc}")
        raise typer.Exit(1) from None
    finally:
        truth.close()
    if stats_file is not None:
        stats_file.write_text(json.dumps(asdict(final)), encoding="utf-8")
    typer.echo(f"published {final.sent:,} message(s), {final.acked:,} acknowledged; "
               f"{final.truth} ground-truth record(s) in {truth_path}")
    if final.error:
        _errors.print(f"[yellow]warning:[/yellow] {final.error}")
