-- The open schema for data scientists: one view per non-personal dataset of the
-- catalogue (hub/datasets/catalogue.json). The views run with their owner's
-- rights (no security_invoker), so cityhub_analyst reads them without any grant
-- on hub.*; they carry no token, hash, owner, pseudonym or payload.
-- Every query here is plain SQL (date_bin, not time_bucket): valid on both profiles.

-- Devices without a zone show '' rather than NULL, so zones compare and page like
-- any other value.
CREATE VIEW anon.air_quality AS
SELECT t.ts, t.device_id, coalesce(d.zone, '') AS zone, t.metric, t.value, u.unit
FROM hub.telemetry t
JOIN hub.devices d ON d.id = t.device_id AND d.kind = 'air_quality'
LEFT JOIN (SELECT m.key AS metric, m.value ->> 'unit' AS unit
           FROM hub.device_kinds k, jsonb_each(k.spec -> 'metrics') m
           WHERE k.name = 'air_quality') u ON u.metric = t.metric;

CREATE VIEW anon.air_quality_1m AS
SELECT r.bucket, r.device_id, coalesce(d.zone, '') AS zone, r.metric,
       r.sum / r.n AS avg, r.min, r.max, r.sum, r.n AS count
FROM hub.telemetry_1m r
JOIN hub.devices d ON d.id = r.device_id AND d.kind = 'air_quality';

-- Hours from the 1-minute rollup; filter on `bucket` to keep it cheap.
CREATE VIEW anon.air_quality_1h AS
SELECT h.bucket, h.device_id, coalesce(d.zone, '') AS zone, h.metric,
       h.sum / h.n AS avg, h.min, h.max, h.sum, h.n AS count
FROM (SELECT date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00+00') AS bucket,
             device_id, metric, sum(n) AS n, sum(sum) AS sum, min(min) AS min, max(max) AS max
      FROM hub.telemetry_1m GROUP BY 1, 2, 3) h
JOIN hub.devices d ON d.id = h.device_id AND d.kind = 'air_quality';

-- The registry without credentials or owners. Devices that belong to a person or a
-- household (a subject, or a kind keyed by household) are left out altogether:
-- a meter's position is a home's.
CREATE VIEW anon.devices AS
SELECT d.id AS device_id, d.kind, coalesce(d.zone, '') AS zone, d.lat, d.lon, d.status,
       d.online, d.created_at AS registered_at, d.last_seen
FROM hub.devices d
JOIN hub.device_kinds k ON k.name = d.kind
WHERE d.subject IS NULL AND NOT coalesce(k.spec -> 'fields' ? 'household_id', false);

-- CCTV analytics events counted per zone, type and hour: no device, subject,
-- attribute or exact time of any single event.
CREATE VIEW anon.cctv_event_counts AS
SELECT date_bin('1 hour', e.ts, TIMESTAMPTZ '2000-01-01 00:00+00') AS hour,
       coalesce(d.zone, '') AS zone, e.type, count(*) AS count
FROM hub.events e
JOIN hub.devices d ON d.id = e.device_id AND d.kind = 'cctv'
GROUP BY 1, 2, 3;

COMMENT ON VIEW anon.air_quality IS 'Air-quality readings at full resolution (not personal).';
COMMENT ON VIEW anon.air_quality_1m IS 'Air-quality readings per device, metric and minute (not personal).';
COMMENT ON VIEW anon.air_quality_1h IS 'Air-quality readings per device, metric and hour (not personal).';
COMMENT ON VIEW anon.devices IS 'Device registry without credentials, owners or household devices.';
COMMENT ON VIEW anon.cctv_event_counts IS 'CCTV analytics events counted per zone, type and hour.';

GRANT SELECT ON anon.air_quality, anon.air_quality_1m, anon.air_quality_1h, anon.devices,
    anon.cctv_event_counts TO cityhub_analyst;
-- The console serves the same views over HTTP.
GRANT USAGE ON SCHEMA anon TO cityhub_console;
GRANT SELECT ON anon.air_quality, anon.air_quality_1m, anon.air_quality_1h, anon.devices,
    anon.cctv_event_counts TO cityhub_console;
