-- PM2.5 forecasts per station (analytics/forecast/, docs/analytics.md "Forecasts"): what the
-- analytics service predicted each hour for the next hours, and the pre-alert's SOP. Plain
-- table: valid on both profiles.

-- One row per station, metric, forecast run and horizon. made_at is the end of the last
-- complete hour the forecast used; target_at the start of the hour forecast (a bucket of
-- hub.telemetry_1h, so forecasts and what was measured join on it); horizon_h the hours from
-- made_at to the end of that hour. model_version is the hub.analytics_models version used.
CREATE TABLE hub.forecasts (
    device_id      text NOT NULL REFERENCES hub.devices (id) ON DELETE CASCADE,
    metric         text NOT NULL,
    made_at        timestamptz NOT NULL,
    target_at      timestamptz NOT NULL,
    horizon_h      integer NOT NULL CHECK (horizon_h BETWEEN 1 AND 48),
    value          double precision NOT NULL,
    model_version  integer NOT NULL CHECK (model_version >= 1),
    PRIMARY KEY (device_id, metric, made_at, horizon_h),
    CHECK (target_at < made_at + make_interval(hours => horizon_h))
);
-- The service deletes runs older than its retention by made_at.
CREATE INDEX forecasts_made_at ON hub.forecasts (made_at);

INSERT INTO hub.sop_items (alert_type, item_no, text) VALUES
    ('pm25_advisory_forecast', 1, 'This is a forecast, not a measurement: compare the dashed forecast with the readings on the chart'),
    ('pm25_advisory_forecast', 2, 'Check the neighbouring stations and the district: a plume arriving shows there first'),
    ('pm25_advisory_forecast', 3, 'Tell the district office an advisory (주의보) may be needed within hours; prepare the public notice'),
    ('pm25_advisory_forecast', 4, 'Resolve when the forecast falls back (the service clears it) or when the real advisory is raised')
ON CONFLICT DO NOTHING;

GRANT SELECT ON hub.forecasts TO cityhub_console;
