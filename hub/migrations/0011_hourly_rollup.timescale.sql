-- An hourly rollup of telemetry, so a month of hours for a thousand stations reads
-- 720,000 rows per metric instead of aggregating 43 million 1-minute buckets.
-- TimescaleDB: a hierarchical continuous aggregate on the 1-minute one (2.9 or
-- newer; 0002 already requires 2.11), with the same name and columns as the plain
-- profile's table, so every query runs unchanged on both profiles. time_bucket
-- appears only here: continuous aggregates require it. Hours are whole hours with
-- either function, so its buckets are the ones date_bin makes from 2000-01-01.

CREATE MATERIALIZED VIEW hub.telemetry_1h WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, device_id, metric,
       sum(n)::bigint AS n, sum(sum) AS sum, min(min) AS min, max(max) AS max
FROM hub.telemetry_1m
GROUP BY time_bucket(INTERVAL '1 hour', bucket), device_id, metric
WITH NO DATA;
-- Real-time aggregation: hours not yet materialised come from the 1-minute
-- aggregate (itself real-time), so the current hour is never missing.
ALTER MATERIALIZED VIEW hub.telemetry_1h SET (timescaledb.materialized_only = false);
-- The same window as the 1-minute policy: late readings back to the raw retention
-- reach their hours; refreshes touch only invalidated ranges.
SELECT add_continuous_aggregate_policy('hub.telemetry_1h',
    start_offset => INTERVAL '89 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '10 minutes');
SELECT add_retention_policy('hub.telemetry_1h', INTERVAL '730 days');

GRANT SELECT ON hub.telemetry_1h TO cityhub_console;

-- Same as 0011_hourly_rollup.plain.sql from here on.
-- anon.air_quality_1h read hub.telemetry_1m and aggregated it on every query; it now
-- reads the hourly rollup (count becomes bigint, as the catalogue says).
DROP VIEW anon.air_quality_1h;
CREATE VIEW anon.air_quality_1h AS
SELECT h.bucket, h.device_id, coalesce(d.zone, '') AS zone, h.metric,
       h.sum / h.n AS avg, h.min, h.max, h.sum, h.n AS count
FROM hub.telemetry_1h h
JOIN hub.devices d ON d.id = h.device_id AND d.kind = 'air_quality';
COMMENT ON VIEW anon.air_quality_1h IS 'Air-quality readings per device, metric and hour (not personal).';
GRANT SELECT ON anon.air_quality_1h TO cityhub_analyst, cityhub_console;
