"""No dead letter gives a personal value away (issue 9, point 3), end to end.

For every code a device can cause, a camera or smart meter publishes, over a real
Mosquitto to the real ingest process and database, a payload holding a known plate or
household id, also in the hard forms: an escaped key (``"licence\\u005fplate"``), the
plate in a list, an object, a key name, ``subject``, ``ts`` or ``type``, and payloads
that are not JSON at all. Then the plate must appear nowhere: not in a ``pg_dump
--data-only`` of the database, nor in the ingest process's log, nor in the replies on the
errors topics, nor in ``/metrics``.

``bad_topic`` is not listed: ingest subscribes only to topics of the contract, so no
device reaches it; nor ``internal_error``, which only a bug of ours causes.
"""

from __future__ import annotations

import glob
import json
import secrets
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime

import pytest

from hub.catalogue import Catalogue
from hub.pseudonym import PseudonymKeys
from hub.registry import revoke_device
from ingest.depth import MAX_DEPTH
from ingest.validate import MAX_READINGS_PER_MESSAGE
from tests.fix_ingest import IngestProcess
from tests.fix_mqtt import Broker
from tests.helpers import Conn, count, new_device, now_ms
from tests.mqtt_client import device
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

# Unique to this run, so that what other tests stored cannot matter. Every form a leak
# could take contains MARKER: the plate, the household id, and their \u escapes.
MARKER = f"XK{secrets.randbelow(10**9):09d}"
PLATE = f"12가{MARKER}"
HOUSEHOLD = f"HH-{MARKER}"
ESCAPED = "".join(f"\\u{ord(c):04x}" for c in PLATE)


def _pg_dump() -> str | None:
    found = shutil.which("pg_dump")
    if found:
        return found
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"),
                      key=lambda p: int(p.split("/")[4]))
    return versions[-1] if versions else None


def _leaks(text: str) -> list[str]:
    """The forms of the personal values found in *text*, with some context. A bytea
    column is dumped in hex, so the hex forms are looked for too."""
    forms = [PLATE, HOUSEHOLD, MARKER, ESCAPED, ESCAPED.replace("\\", "\\\\"),
             MARKER.encode().hex(), ESCAPED.encode().hex()]
    hits = []
    for form in forms:
        at = text.find(form)
        if at >= 0:
            hits.append(f"{form!r} in …{text[max(0, at - 200):at + 60]!r}")
    return hits


def _j(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _cases(cam: str, meter: str, gateway: str, revoked: str, unknown: str, ms: int
           ) -> list[tuple[str, bytes, str]]:
    """(topic, payload, the dead-letter code it must give) of each hostile message."""
    events, telemetry = f"cityhub/v1/{cam}/events", f"cityhub/v1/{cam}/telemetry"
    meter_t, meter_e = f"cityhub/v1/{meter}/telemetry", f"cityhub/v1/{meter}/events"
    p, e = PLATE, ESCAPED
    deep = "[" * (MAX_DEPTH + 8) + "]" * (MAX_DEPTH + 8)
    many = [{"ts": ms, "person_count": 1}] * MAX_READINGS_PER_MESSAGE
    return [
        (events, f'{{"licence_plate": "{p}", oops'.encode(), "malformed_json"),
        (events, f'{{"ts": {ms}, "licence\\u005fplate": "{p}"'.encode(), "malformed_json"),
        (events, f'{{"licence_plate": "{e}",, }}'.encode(), "malformed_json"),
        (events, f'{{"licence_plate": "{p}'.encode() + b'\xff"}', "malformed_json"),
        (meter_t, f"household_id={HOUSEHOLD};energy_kwh=5".encode(), "malformed_json"),
        (events, f'{{"licence_plate": "{p}", "x": {deep}}}'.encode(), "too_deep"),
        (events, f'{{"ts": {ms}, "type": "fire", "confidence": 1e400, '
                 f'"licence_plate": "{p}"}}'.encode(), "bad_value"),
        (f"cityhub/v1/{unknown}/events",
         _j({"ts": ms, "type": "fire", "licence_plate": p}), "unknown_device"),
        (f"cityhub/v1/{revoked}/events",
         _j({"ts": ms, "type": "fire", "licence_plate": p}), "revoked_device"),
        (telemetry, _j({"ts": ms, "pm10": 5, "licence_plate": p}), "wrong_kind"),
        (f"cityhub/v1/gateway/{cam}/telemetry",
         _j({cam: [{"ts": ms, "person_count": 1, "licence_plate": p}]}), "wrong_kind"),
        (telemetry, _j({"ts": ms, p: 1}), "unknown_metric"),
        (telemetry, _j({"ts": ms, "values": {"person_count": 1, "plate": p}}), "unknown_metric"),
        (events, _j({"ts": ms, "type": "fire", "subject": p}), "unknown_field"),
        (events, _j({"ts": ms, "type": "fire", p: "seen"}), "unknown_field"),
        (events, _j({"ts": ms, "type": "fire", "licence_plate": [p]}), "bad_value"),
        (events, _j({"ts": ms, "type": "fire", "licence_plate": {"text": p, p: 1}}), "bad_value"),
        (events, _j({"ts": ms, "type": "fire", "confidence": 7, "licence_plate": p}), "bad_value"),
        (meter_t, _j({"ts": ms, "energy_kwh": HOUSEHOLD}), "bad_value"),
        (telemetry, _j({"ts": ms, "person_count": -5, "licence_plate": p}), "out_of_range"),
        (meter_t, _j({"ts": ms, "voltage": 9999, "household_id": HOUSEHOLD}), "out_of_range"),
        (events, _j({"ts": p, "type": "fire", "licence_plate": p}), "bad_timestamp"),
        (events, _j({"ts": "2026-01-01T00:00:00", "type": "fire", "licence_plate": p}),
         "bad_timestamp"),
        (events, _j({"ts": ms + 3_600_000, "type": "fire", "licence_plate": p}),
         "future_timestamp"),
        (meter_e, _j({"ts": ms + 3_600_000, "type": "tamper", "household_id": HOUSEHOLD}),
         "future_timestamp"),
        (events, _j({"ts": ms - 400 * 86_400_000, "type": "fire", "licence_plate": p}),
         "too_old"),
        (events, _j([p]), "bad_payload"),
        (telemetry, _j({"ts": ms, "values": {"person_count": 1}, "licence_plate": p}),
         "bad_payload"),
        (f"cityhub/v1/{cam}/status", p.encode(), "bad_payload"),
        (telemetry, _j([*many, {"ts": ms, "person_count": 1, "licence_plate": p}]),
         "too_many_readings"),
        (f"cityhub/v1/gateway/{gateway}/telemetry",
         _j({cam: [{"ts": ms, "person_count": 1, "licence_plate": p}]}), "not_behind_gateway"),
        (events, _j({"ts": ms, "type": p, "licence_plate": p}), "unknown_event_type"),
        (events, f'{{"ts": {ms}, "type": "plate_read", "licence\\u005fplate": "{p}"}}'.encode(),
         "unknown_event_type"),
        (telemetry, _j({"type": "AirQualityObserved", "dateObserved": _iso(ms),
                        "pm10": {"type": "Property", "value": 5, "unitCode": "XX"},
                        "licence_plate": p}), "bad_unit"),
        # PostgreSQL refuses a NUL in jsonb: the batch, then this message, is refused.
        (events, _j({"ts": ms + 1, "type": "loitering", "licence_plate": p,
                     "object_class": "car\u0000"}), "store_failed"),
        (events, f'{{"ts": {ms + 2}, "type": "fall", "licence\\u005fplate": "{p}", '
                 f'"zone_name": "a\\u0000b"}}'.encode(), "store_failed"),
    ]


def test_no_dead_letter_of_any_code_keeps_a_plate_anywhere(
    db: Conn, catalogue: Catalogue, broker: Broker, ingest: IngestProcess, database_url: str,
    keys: PseudonymKeys,
) -> None:
    pg_dump = _pg_dump()
    if pg_dump is None:
        pytest.skip("pg_dump is not installed (PostgreSQL's client tools): no dump to search")
    cam, meter = new_device(db, catalogue, "cctv"), new_device(db, catalogue, "smart_meter")
    gateway, revoked = new_device(db, catalogue, "gateway"), new_device(db, catalogue, "cctv")
    revoke_device(db, revoked)
    unknown = f"t-cctv-unknown-{secrets.token_hex(4)}"
    ours = (cam, meter, gateway, revoked, unknown)
    ms = now_ms() - 60_000
    cases = _cases(cam, meter, gateway, revoked, unknown, ms)
    # The first value of a key is stored; a different one later is a conflict.
    first = [(f"cityhub/v1/{cam}/events",
              {"ts": ms, "type": "crowd", "confidence": 0.5, "licence_plate": PLATE}),
             (f"cityhub/v1/{meter}/telemetry",
              {"ts": ms, "energy_kwh": 10, "household_id": HOUSEHOLD})]
    conflicts = [(f"cityhub/v1/{cam}/events",
                  _j({"ts": ms, "type": "crowd", "confidence": 0.9, "licence_plate": PLATE,
                      "object_class": "person"}), "conflict"),
                 (f"cityhub/v1/{meter}/telemetry",
                  _j({"ts": ms, "energy_kwh": 11, "household_id": HOUSEHOLD}), "conflict")]
    cases += conflicts

    with device(broker) as client:
        client.subscribe("cityhub/v1/+/errors")
        for topic, document in first:
            client.publish(topic, document)
        wait_for(lambda: count(db, "SELECT count(*)::int FROM hub.events WHERE device_id = %s",
                               cam) == 1
                 and count(db, "SELECT count(*)::int FROM hub.telemetry WHERE device_id = %s",
                           meter) == 1, what="the first values of the conflicting keys")
        for topic, payload, _ in cases:
            client.publish(topic, payload)

        def ours_replied() -> list[tuple[str, bytes]]:
            return [(t, p) for t, p in list(client.received) if t.split("/")[2] in ours]

        expected = Counter(code for _, _, code in cases)
        try:
            wait_for(lambda: len(ours_replied()) >= len(cases),
                     what=f"{len(cases)} errors-topic replies")
        finally:
            got = Counter(json.loads(p)["code"] for _, p in ours_replied())
            assert (expected - got, got - expected) == (Counter(), Counter())
        replies = ours_replied()

    letters = db.execute("SELECT reason_code FROM hub.dead_letters WHERE device_id = ANY(%s)",
                         (list(ours),)).fetchall()
    # Each message gave exactly its code, so none of them passed the test vacuously.
    assert Counter(str(code) for (code,) in letters) == expected
    assert Counter(json.loads(p)["code"] for _, p in replies) == expected

    dump = subprocess.run([pg_dump, "--data-only", "--no-owner", "--dbname", database_url],
                          capture_output=True, check=True, timeout=120).stdout
    assert _leaks(dump.decode("utf-8", "replace")) == []
    log = ingest.log_path.read_text(errors="replace")
    assert _leaks(log) == []
    answered = "\n".join(p.decode("utf-8", "replace") for _, p in replies)
    assert _leaks(answered) == []
    assert _leaks(ingest.metrics_text()) == []
    # Not even the pseudonym: the database's error text (which quotes the refused row)
    # is kept out of the logs and the store_failed replies.
    for pseudonym in (keys.pseudonymise(PLATE), keys.pseudonymise(HOUSEHOLD)):
        assert pseudonym[-12:] not in log
        assert pseudonym[-12:] not in answered
    # The dump does hold what was stored: the first event's pseudonymous subject.
    assert keys.pseudonymise(PLATE).encode() in dump


def test_the_dump_search_finds_a_plate_where_one_is_kept(db: Conn) -> None:
    """The search above is not blind: a plate in a bytea payload is found in its hex."""
    dumped = db.execute("SELECT %s::bytea::text", (f'{{"p": "{PLATE}"}}'.encode(),)).fetchone()
    assert dumped is not None
    assert _leaks(str(dumped[0]))
    assert _leaks(f"cityhub/v1/cam/errors {PLATE}")
