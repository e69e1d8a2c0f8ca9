"""What devices get wrong: every message sent twice (the second with DUP), and malformed
payloads between the good ones."""

from __future__ import annotations

from ingest.chaos.counts import Key
from ingest.chaos.lab import Lab, Outcome, Scale
from ingest.chaos.publisher import reading
from ingest.chaos.rawmqtt import RawClient

# Readings sent before reading the broker's PUBACKs.
ROUND = 500
# Each becomes one dead letter with its reason (docs/ingest.md, "Rejections").
MALFORMED: tuple[bytes, ...] = (
    b"{not json",
    b"",
    b"\xff\xfe\x00\x01",
    b'{"ts": "yesterday", "pm10": 5}',
    b'{"ts": 1, "pm10": 5}',
    b'{"ts": 1700000000000, "pm10": "high"}',
    b"[" * 200 + b"]" * 200,
    b'{"ts": 1700000000000, "no_such_metric": 1}',
)


def duplicates_and_malformed(lab: Lab, scale: Scale) -> Outcome:
    with lab.run("duplicates") as run:
        devices = run.devices(scale.devices)
        broker = run.broker()
        worker = run.worker(broker)
        raw = RawClient(broker.host, broker.port)
        count = scale.readings(2 * scale.lead_s)
        every = max(1, count // (2 * len(MALFORMED)))
        sent: list[Key] = []
        acknowledged: set[Key] = set()
        in_round: dict[int, Key] = {}  # packet id -> reading, until its PUBACKs are read
        malformed = 0

        def read_acks() -> None:
            acked = raw.wait_acknowledged()
            acknowledged.update(key for packet_id, key in in_round.items() if packet_id in acked)
            in_round.clear()

        try:
            for i in range(count):
                key = (devices[i % len(devices)], i // len(devices))
                topic = f"cityhub/v1/{key[0]}/telemetry"
                in_round[raw.send_twice(topic, reading(run.base_ms, key[1]))] = key
                sent.append(key)
                if i % every == 0:
                    raw.send_once(topic, MALFORMED[malformed % len(MALFORMED)])
                    malformed += 1
                if len(in_round) >= ROUND:  # packet ids are reused only in a later round
                    read_acks()
            read_acks()
        finally:
            raw.close()
        # Numbered after the raw client's readings, so its last one is new.
        publisher = run.publisher(broker, first=count)
        run.settle(publisher, [worker])
        counts = run.counts(publisher, published=sent + publisher.published(),
                            acknowledged=acknowledged | publisher.acknowledged())
        received = worker.metric("cityhub_ingest_received_total") or 0.0
        return Outcome(
            "duplicates and malformed", f"{count} readings each sent twice (DUP), {malformed} "
            "malformed between them", counts, 0,
            "a redelivered reading is a no-op on the unique key; a malformed one a dead letter",
            run.seconds, {"malformed": float(malformed), "received": received,
                          "sent": float(2 * count + malformed + len(publisher.published()))})
