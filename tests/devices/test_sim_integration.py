"""`cityhub simulate` against the throw-away broker and the real ingest service."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import psycopg
import pytest

from devices.sim.fleet import SimDevice, build_fleet
from devices.sim.groundtruth import read_truth
from devices.sim.register import register_missing
from devices.sim.zones import zones_named
from hub.catalogue import Catalogue
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, child_env, count
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

COUNTS = {"air_quality": 4, "smart_meter": 3, "cctv": 3}


def _listen_status(database_url: str, seen: list[tuple[str, bool]], stop: threading.Event) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("LISTEN hub_device_status")
        while not stop.is_set():
            for note in conn.notifies(timeout=0.2):
                body = json.loads(note.payload)
                seen.append((str(body["device_id"]), bool(body["online"])))


def _readers(db: Conn, ids: list[str]) -> bool:
    """Whether every device of *ids* has stored readings."""
    return count(db, "SELECT count(DISTINCT device_id)::int FROM hub.telemetry WHERE device_id = ANY(%s)",
                 ids) == len(ids)


def test_simulate_stores_data_dead_letters_faults_and_devices_go_offline_and_back(
    db: Conn, database_url: str, broker: Broker, ingest: IngestProcess, tmp_path: Path,
) -> None:
    truth_path = tmp_path / "truth.jsonl"
    statuses: list[tuple[str, bool]] = []
    stop = threading.Event()
    listener = threading.Thread(target=_listen_status, args=(database_url, statuses, stop))
    listener.start()
    env = child_env(CITYHUB_DATABASE_URL=database_url, CITYHUB_STATE_DIR=str(tmp_path))
    command = [sys.executable, "-m", "hub", "simulate", "--mqtt-url", broker.url,
               "--zones", "jung,mapo,gangnam", "--seed", "42",
               *(f"--devices={kind}={n}" for kind, n in COUNTS.items()),
               "--scenario", "faults", "--scenario", "night-fire", "--speed", "60", "--rate", "20",
               "--duration", "9", "--register", "--ground-truth", str(truth_path)]
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                                check=False)
    finally:
        stop.set()
        listener.join()
    assert result.returncode == 0, result.stderr[-3000:]
    truth = read_truth(truth_path)
    labels = {r["label"] for r in truth}
    assert {"malformed", "offline", "night_fire", "duplicate"} <= labels

    # Readings of every kind and the fire's events are stored.
    fleet = build_fleet(COUNTS, 42, zones_named("jung,mapo,gangnam"))
    for kind in COUNTS:
        ids = [d.id for d in fleet if d.kind == kind]
        wait_for(partial(_readers, db, ids), what=f"readings of every {kind}")
    [fire] = [r for r in truth if r["label"] == "night_fire"]
    wait_for(lambda: count(db, "SELECT count(*)::int FROM hub.events WHERE device_id = %s "
                               "AND type IN ('fire', 'smoke')", fire["device_ids"][0]) > 0,
             what="fire events")

    # Each malformed injection lands in the dead letters with the reason ground truth names.
    for record in (r for r in truth if r["label"] == "malformed"):
        [device_id] = record["device_ids"]
        code = record["details"]["expected"].removeprefix("dead letter: ")
        wait_for(partial(count, db, "SELECT count(*)::int FROM hub.dead_letters "
                         "WHERE device_id = %s AND reason_code = %s", device_id, code),
                 what=f"a {code} dead letter of {device_id}")

    # A device that went offline did so by its last will, then came back online.
    for record in (r for r in truth if r["label"] == "offline"):
        [device_id] = record["device_ids"]
        mine = [online for d, online in statuses if d == device_id]
        assert True in mine[mine.index(False) + 1:], (device_id, mine)


def test_register_adds_only_the_devices_the_hub_lacks(db: Conn, database_url: str,
                                                      catalogue: Catalogue) -> None:
    tag = secrets.token_hex(3)
    fleet = [SimDevice(f"aq-reg{tag}-{n}", "air_quality", "jung-gu", 37.56, 126.97 + n / 1000)
             for n in range(3)]
    assert register_missing(database_url, catalogue, fleet[:1]) == 1
    progress: list[int] = []
    assert register_missing(database_url, catalogue, fleet, progress.append) == 2
    assert progress == [1, 2]
    assert register_missing(database_url, catalogue, fleet) == 0
    assert count(db, "SELECT count(*)::int FROM hub.devices WHERE id LIKE %s", f"aq-reg{tag}-%") == 3
