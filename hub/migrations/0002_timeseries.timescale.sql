-- TimescaleDB 2.x: hypertables with compression and retention policies, and a
-- 1-minute continuous aggregate with the same name and columns as the plain
-- profile's rollup table, so every query runs unchanged on both profiles.
-- time_bucket appears only here: continuous aggregates require it.
CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Unique keys and ON CONFLICT DO NOTHING on compressed chunks (redelivered late
-- readings) need TimescaleDB 2.11 or newer; older versions must not be used.
DO $$
BEGIN
    IF (SELECT (regexp_match(extversion, '^(\d+)\.(\d+)'))::int[] FROM pg_extension
        WHERE extname = 'timescaledb') < ARRAY[2, 11] THEN
        RAISE EXCEPTION 'cityhub needs TimescaleDB 2.11 or newer';
    END IF;
END $$;

CREATE TABLE hub.telemetry (
    ts         timestamptz NOT NULL,
    device_id  text NOT NULL,
    metric     text NOT NULL,
    value      double precision NOT NULL,
    PRIMARY KEY (device_id, metric, ts)
);
SELECT create_hypertable('hub.telemetry', 'ts', chunk_time_interval => INTERVAL '1 day');
ALTER TABLE hub.telemetry SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id, metric',
    timescaledb.compress_orderby = 'ts DESC'
);
SELECT add_compression_policy('hub.telemetry', INTERVAL '7 days');
SELECT add_retention_policy('hub.telemetry', INTERVAL '90 days');

CREATE TABLE hub.events (
    ts           timestamptz NOT NULL,
    device_id    text NOT NULL,
    type         text NOT NULL,
    severity     text NOT NULL,
    confidence   real,
    subject      text,
    attributes   jsonb NOT NULL DEFAULT '{}',
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, type, ts)
);
SELECT create_hypertable('hub.events', 'ts', chunk_time_interval => INTERVAL '7 days');
ALTER TABLE hub.events SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id',
    timescaledb.compress_orderby = 'ts DESC'
);
SELECT add_compression_policy('hub.events', INTERVAL '30 days');
SELECT add_retention_policy('hub.events', INTERVAL '365 days');

CREATE MATERIALIZED VIEW hub.telemetry_1m WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 minute', ts) AS bucket, device_id, metric,
       count(*) AS n, sum(value) AS sum, min(value) AS min, max(value) AS max
FROM hub.telemetry
GROUP BY time_bucket(INTERVAL '1 minute', ts), device_id, metric
WITH NO DATA;
-- Real-time aggregation (the default before 2.13, explicit here) joins the
-- not-yet-materialised tail, so the last minutes are never missing.
ALTER MATERIALIZED VIEW hub.telemetry_1m SET (timescaledb.materialized_only = false);
-- Ingest accepts late readings back to the 90-day raw retention; the refresh window
-- reaches just inside it so late data updates its buckets. Refreshes only touch
-- invalidated ranges, so the wide window costs nothing while no late data arrives.
SELECT add_continuous_aggregate_policy('hub.telemetry_1m',
    start_offset => INTERVAL '89 days', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');
SELECT add_retention_policy('hub.telemetry_1m', INTERVAL '730 days');

-- TimescaleDB's background jobs do partitioning and retention.
CREATE FUNCTION hub.maintain(ahead interval DEFAULT '7 days') RETURNS void
LANGUAGE sql AS $$ SELECT $$;
