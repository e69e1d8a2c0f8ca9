"""Device simulators behind `cityhub simulate`.

Pure, seeded models apart from the I/O:

- ``zones``, ``fleet`` and ``clock``: where devices stand, their ids, simulated time;
- ``air_quality``, ``smart_meter``, ``cctv``: one model per device kind;
- ``scenarios`` (named scenarios as data), ``schedule`` (a scenario resolved into
  concrete anomalies), ``faults`` (sensor and transport faults), ``groundtruth``;
- ``simulator``: the pure core that turns (device, simulated time) into messages;
- ``publisher`` and ``engine``: the MQTT publishing engine, on the raw-socket
  ``devices.mqttwire`` shared with the load generator;
- ``bench``: `cityhub bench simulate`.

Errors: ``SimulationError`` (bad options, unknown scenario, unreadable devices file) is
the one exception type of this package; the engine raises ``ConnectionError`` (an
``OSError``) when the broker refuses or drops it.
"""
