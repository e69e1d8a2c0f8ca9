-- An hourly rollup of telemetry, so a month of hours for a thousand stations reads
-- 720,000 rows per metric instead of aggregating 43 million 1-minute buckets.
-- Plain PostgreSQL: the rollup trigger of 0002/0007 (one function for the parent and
-- every partition) now upserts hub.telemetry_1h from the same transition table, in
-- the same transaction as the readings: exact and immediate like the 1-minute
-- rollup, with no job, watermark or real-time union to keep (docs/storage.md says
-- what it costs ingest). Every query here is plain SQL (date_bin, not time_bucket).

CREATE TABLE hub.telemetry_1h (
    bucket     timestamptz NOT NULL,
    device_id  text NOT NULL,
    metric     text NOT NULL,
    n          bigint NOT NULL,
    sum        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    -- Covering: a month of hours is read in key order by an index-only scan, with no
    -- sort and no heap access (the rows are written in time order, so a plain index
    -- would fetch them from all over the heap). Updates of the open hour are then
    -- not HOT; at one update per station, metric and ingest statement that is cheap.
    PRIMARY KEY (device_id, metric, bucket) INCLUDE (n, sum, min, max)
) PARTITION BY RANGE (bucket);

-- hub.maintain() creates and drops its partitions like the other tables'; a month
-- each, kept as long as the 1-minute rollup.
INSERT INTO hub.storage_policy VALUES ('telemetry_1h', '28 days', '730 days');
SELECT hub.maintain();

-- Only rows that were really inserted reach the transition table, so redelivered
-- readings (ON CONFLICT DO NOTHING) are never counted twice in either rollup.
CREATE OR REPLACE FUNCTION hub.rollup_telemetry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, hub AS $$
BEGIN
    INSERT INTO hub.telemetry_1m AS r (bucket, device_id, metric, n, sum, min, max)
    SELECT date_bin('1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00+00'), device_id, metric,
           count(*), sum(value), min(value), max(value)
    FROM new_rows
    GROUP BY 1, 2, 3
    ORDER BY 2, 3, 1
    ON CONFLICT (device_id, metric, bucket) DO UPDATE
       SET n = r.n + EXCLUDED.n,
           sum = r.sum + EXCLUDED.sum,
           min = LEAST(r.min, EXCLUDED.min),
           max = GREATEST(r.max, EXCLUDED.max);
    INSERT INTO hub.telemetry_1h AS r (bucket, device_id, metric, n, sum, min, max)
    SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00+00'), device_id, metric,
           count(*), sum(value), min(value), max(value)
    FROM new_rows
    GROUP BY 1, 2, 3
    ORDER BY 2, 3, 1
    ON CONFLICT (device_id, metric, bucket) DO UPDATE
       SET n = r.n + EXCLUDED.n,
           sum = r.sum + EXCLUDED.sum,
           min = LEAST(r.min, EXCLUDED.min),
           max = GREATEST(r.max, EXCLUDED.max);
    RETURN NULL;
END $$;

-- The hours of what is already there.
INSERT INTO hub.telemetry_1h (bucket, device_id, metric, n, sum, min, max)
SELECT date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00+00'), device_id, metric,
       sum(n), sum(sum), min(min), max(max)
FROM hub.telemetry_1m
GROUP BY 1, 2, 3;

GRANT SELECT ON hub.telemetry_1h TO cityhub_console;

-- Same as 0011_hourly_rollup.timescale.sql from here on.
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
