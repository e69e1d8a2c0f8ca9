-- Alert rules as versioned data (analytics/spec.py, docs/analytics.md), replacing the seven
-- per-reading thresholds of 0006. Plain tables: valid on both profiles.

-- A rule names its current version; every edit (enabling and disabling too) adds a version,
-- so an alert's rule_version says exactly which definition raised it.
CREATE TABLE hub.rules (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    kind        text NOT NULL
                CHECK (kind IN ('threshold', 'rate_of_change', 'absence', 'event_map', 'zone_composite')),
    version     integer NOT NULL CHECK (version >= 1),
    enabled     boolean NOT NULL,
    builtin     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL
);
CREATE TABLE hub.rule_versions (
    rule_id     text NOT NULL REFERENCES hub.rules (id),
    version     integer NOT NULL CHECK (version >= 1),
    -- The rule document as analytics/spec.py parses it.
    spec        jsonb NOT NULL,
    enabled     boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    note        text,
    PRIMARY KEY (rule_id, version)
);

-- The rule version that raised an alert and the agency its rule suggests. The analytics
-- service sets both per raise on its session (cityhub.rule_version, cityhub.rule_agency);
-- the trigger copies them into the new row, in the same transaction as the insert.
ALTER TABLE hub.alerts ADD COLUMN rule_version integer, ADD COLUMN suggested_agency text;
CREATE FUNCTION hub.alert_rule_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.rule_version IS NULL THEN
        NEW.rule_version := nullif(current_setting('cityhub.rule_version', true), '')::integer;
    END IF;
    IF NEW.suggested_agency IS NULL THEN
        NEW.suggested_agency := nullif(current_setting('cityhub.rule_agency', true), '');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER alerts_rule_version BEFORE INSERT ON hub.alerts
    FOR EACH ROW EXECUTE FUNCTION hub.alert_rule_version();

DROP TABLE hub.alert_rule_conditions;
DROP TABLE hub.alert_rules;

-- The built-in set, from the Korean standards (sources in docs/analytics.md).
WITH seed (enabled, spec) AS (VALUES
    (true, $json${"id": "pm25-fine-dust", "kind": "threshold", "alert_type": "fine_dust",
      "title": "PM2.5 fine-dust advisory (초미세먼지 주의보/경보)", "metric": "pm25",
      "device_kind": "air_quality", "scope": "zone", "window_s": 3600, "agency": "district",
      "levels": [
        {"name": "advisory (주의보)", "severity": "warning", "above": 75, "for_s": 7200,
         "clear_below": 35, "clear_for_s": 0},
        {"name": "warning (경보)", "severity": "critical", "above": 150, "for_s": 7200,
         "clear_below": 75, "clear_for_s": 0}],
      "source": "대기환경보전법 시행규칙 별표 7; 환경부 미세먼지 경보제"}$json$::jsonb),
    (true, $json${"id": "pm10-fine-dust", "kind": "threshold", "alert_type": "fine_dust",
      "title": "PM10 fine-dust advisory (미세먼지 주의보/경보)", "metric": "pm10",
      "device_kind": "air_quality", "scope": "zone", "window_s": 3600, "agency": "district",
      "levels": [
        {"name": "advisory (주의보)", "severity": "warning", "above": 150, "for_s": 7200,
         "clear_below": 100, "clear_for_s": 0},
        {"name": "warning (경보)", "severity": "critical", "above": 300, "for_s": 7200,
         "clear_below": 150, "clear_for_s": 0}],
      "source": "대기환경보전법 시행규칙 별표 7; 환경부 미세먼지 경보제"}$json$::jsonb),
    (true, $json${"id": "o3-ozone-alert", "kind": "threshold", "alert_type": "ozone",
      "title": "Ozone alert (오존 주의보/경보/중대경보)", "metric": "o3",
      "device_kind": "air_quality", "scope": "zone", "window_s": 3600, "agency": "district",
      "levels": [
        {"name": "advisory (주의보)", "severity": "warning", "above": 0.12, "for_s": 0,
         "clear_below": 0.12, "clear_for_s": 0},
        {"name": "warning (경보)", "severity": "critical", "above": 0.3, "for_s": 0,
         "clear_below": 0.3, "clear_for_s": 0},
        {"name": "serious warning (중대경보)", "severity": "critical", "above": 0.5, "for_s": 0,
         "clear_below": 0.5, "clear_for_s": 0}],
      "source": "대기환경보전법 시행규칙 별표 7"}$json$::jsonb),
    (true, $json${"id": "pm10-sudden-rise", "kind": "rate_of_change", "alert_type": "air_quality",
      "title": "PM10 rose sharply at a station", "metric": "pm10", "device_kind": "air_quality",
      "window_s": 600,
      "levels": [{"name": "sharp rise", "severity": "warning", "above": 100, "for_s": 0,
                  "clear_below": 50, "clear_for_s": 600},
                 {"name": "extreme rise", "severity": "critical", "above": 300, "for_s": 0,
                  "clear_below": 50, "clear_for_s": 600}],
      "description": "A rise of 100 (300) µg/m³ within 10 minutes: a fire, a local source or a faulty sensor; check it long before the two-hour advisory could apply."}$json$::jsonb),
    (true, $json${"id": "cctv-fire", "kind": "event_map", "alert_type": "fire",
      "title": "Fire or smoke seen by a camera", "device_kind": "cctv",
      "events": {"fire": {"severity": "critical", "agency": "fire-119"},
                 "smoke": {"severity": "critical", "agency": "fire-119"}}}$json$::jsonb),
    (true, $json${"id": "cctv-police", "kind": "event_map", "alert_type": "intrusion",
      "title": "Violence, intrusion or a fall seen by a camera", "device_kind": "cctv",
      "events": {"violence": {"severity": "critical", "agency": "police-112"},
                 "intrusion": {"severity": "critical", "agency": "police-112"},
                 "fall": {"severity": "critical", "agency": "police-112"}}}$json$::jsonb),
    (true, $json${"id": "cctv-parking", "kind": "event_map", "alert_type": "illegal_parking",
      "title": "Illegal parking seen by a camera", "device_kind": "cctv",
      "events": {"illegal_parking": {"severity": "info", "agency": "district"}}}$json$::jsonb),
    (false, $json${"id": "air-station-silent", "kind": "absence", "alert_type": "device_silent",
      "title": "Air-quality station silent", "device_kind": "air_quality", "factor": 10,
      "severity": "warning"}$json$::jsonb)
), rules AS (
    INSERT INTO hub.rules (id, kind, version, enabled, builtin, updated_by)
    SELECT spec->>'id', spec->>'kind', 1, enabled, true, 'migration' FROM seed
    RETURNING id
)
INSERT INTO hub.rule_versions (rule_id, version, spec, enabled, created_by, note)
SELECT spec->>'id', 1, spec, enabled, 'migration', 'built-in rule set' FROM seed;

INSERT INTO hub.sop_items (alert_type, item_no, text) VALUES
    ('fine_dust', 1, 'Confirm the hourly means at the district''s stations and a neighbouring district'),
    ('fine_dust', 2, 'Issue the public notice (electronic signs, disaster text, district website)'),
    ('fine_dust', 3, 'Tell schools, care homes and hospitals: sensitive groups stay indoors'),
    ('fine_dust', 4, 'Ask the district office to shorten or stop outdoor work and public outdoor events'),
    ('fine_dust', 5, 'At warning level: ask for vehicle restrictions and dust-emitting sites to cut operation'),
    ('fine_dust', 6, 'When the mean falls below the lifting level: issue the lifting notice'),
    ('ozone', 1, 'Confirm the 1-hour mean at the district''s stations'),
    ('ozone', 2, 'Issue the public notice; ask residents to stay indoors in the afternoon'),
    ('ozone', 3, 'Tell schools and care homes: no outdoor activity for sensitive groups'),
    ('ozone', 4, 'At warning or serious warning: ask for vehicle restrictions and cuts at emitting sites'),
    ('violence', 1, 'Verify the scene on the live camera image'),
    ('violence', 2, 'Assign police-112 with the location'),
    ('violence', 3, 'Follow the people involved on nearby cameras'),
    ('illegal_parking', 1, 'Check the vehicle on the camera image'),
    ('illegal_parking', 2, 'Assign the district office''s parking enforcement if it blocks traffic or an exit'),
    ('device_silent', 1, 'Check the device''s connection and power (console device page)'),
    ('device_silent', 2, 'Create a maintenance ticket if it stays silent');

GRANT SELECT, INSERT, UPDATE ON hub.rules, hub.rule_versions TO cityhub_console;
