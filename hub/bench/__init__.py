"""The benchmark harness every `cityhub bench …` command shares.

    hub/bench/processes.py   child processes with a log file, always stopped; their CPU time
    hub/bench/promtext.py    a Prometheus /metrics page read into sums and histograms
    hub/bench/histogram.py   a latency histogram in Prometheus's shape, and its quantiles
    hub/bench/machine.py     where figures were measured: hardware, PostgreSQL, Mosquitto
    hub/bench/database.py    the local server benches make throw-away databases on
    hub/bench/errors.py      BenchError
    hub/bench/storage.py     `cityhub bench storage` (it needs nothing but hub)
    hub/bench/credentials.py `cityhub bench credentials`: device import, EMQX logins per core
                             (auth_load.py is its login load, a separate process)

Why here: the benches live beside what they measure (ingest/bench, ops_console/bench,
devices/sim/bench.py, this package's storage bench) and must not import one another;
``hub`` is the one package every other one may import, so what they share lives here,
and so it may import nothing but hub and the base dependencies. The MQTT load generator
is the exception: it is a device (raw MQTT packets, devices/loadgen.py and
devices/mqttwire.py) and stays in ``devices``, which the DESIGN names as the home of load
generation; the ingest bench, the only one that needs that load, imports it from there.
Figures are written into docs/benchmarks.md with :mod:`hub.doc_sections`, throw-away
databases made with :mod:`hub.scratch`, brokers with :class:`hub.embedded.ThrowawayBroker`.
"""
