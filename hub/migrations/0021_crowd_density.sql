-- Crowd density (issue 12, point 2): zone areas in the registry, the rule kind `density`
-- (analytics/spec.py, analytics/crowd.py) and its built-in rules; and the built-in absence rule
-- for silent air-quality stations switched on (a dropout is an incident for the operations
-- centre). Plain SQL: both profiles.

-- The ground a zone's cameras watch: persons per m² = the cameras' counts / area_m2.
-- Set with `cityhub device zone set ZONE --area-m2 N`; the simulator sets its zones'.
CREATE TABLE hub.zones (
    zone        text PRIMARY KEY CHECK (zone <> ''),
    area_m2     double precision NOT NULL CHECK (area_m2 > 0 AND area_m2 <= 1e9),
    name_ko     text,
    name_en     text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL DEFAULT current_user
);
GRANT SELECT ON hub.zones TO cityhub_console;

ALTER TABLE hub.rules DROP CONSTRAINT IF EXISTS rules_kind_check;
ALTER TABLE hub.rules ADD CONSTRAINT rules_kind_check
    CHECK (kind IN ('threshold', 'rate_of_change', 'absence', 'event_map', 'zone_composite', 'density'));

WITH seed (spec) AS (VALUES
    ($json${"id": "crowd-density", "kind": "density", "alert_type": "crowd",
      "title": "Crowd density in a zone (인파 밀집)", "metric": "person_count", "device_kind": "cctv",
      "window_s": 120, "agency": "police-112",
      "levels": [
        {"name": "dense crowd (4 persons/m²)", "severity": "warning", "above": 4, "for_s": 60,
         "clear_below": 3.5, "clear_for_s": 300},
        {"name": "crush risk (5 persons/m²)", "severity": "critical", "above": 5, "for_s": 60,
         "clear_below": 4.5, "clear_for_s": 300}],
      "description": "The newest person count of each camera covering the zone, summed, over the zone's area (hub.zones).",
      "source": "Issue 12 levels; crowd-safety practice (Fruin's levels of service, G. K. Still): from about 5 persons/m² a crowd can no longer move freely"}$json$::jsonb),
    ($json${"id": "crowd-rising", "kind": "density", "alert_type": "crowd",
      "title": "Crowd building up fast in a zone (인파 급증)", "metric": "person_count",
      "device_kind": "cctv", "window_s": 120, "rise_s": 600, "agency": "district",
      "levels": [
        {"name": "rising fast (+1 person/m² in 10 min)", "severity": "warning", "above": 1.0,
         "for_s": 0, "clear_below": 0.3, "clear_for_s": 600}],
      "description": "An early warning: the zone's density rose by 1 person/m² within 10 minutes, long before it reaches 4."}$json$::jsonb)
), rules AS (
    INSERT INTO hub.rules (id, kind, version, enabled, builtin, updated_by)
    SELECT spec->>'id', spec->>'kind', 1, true, true, 'migration' FROM seed
    RETURNING id
)
INSERT INTO hub.rule_versions (rule_id, version, spec, enabled, created_by, note)
SELECT spec->>'id', 1, spec, true, 'migration', 'crowd density' FROM seed;

-- air-station-silent: enabled, unless an operator has changed it since 0016. It watches the
-- temperature, which every station message carries and the sensor-fault screen
-- (analytics/models) never withholds: a station suspected faulty is not a silent one.
WITH current AS (
    SELECT r.id, r.version, v.spec
    FROM hub.rules r JOIN hub.rule_versions v ON v.rule_id = r.id AND v.version = r.version
    WHERE r.id = 'air-station-silent' AND r.version = 1 AND NOT r.enabled
), bumped AS (
    UPDATE hub.rules r SET version = 2, enabled = true, updated_at = now(), updated_by = 'migration'
    FROM current c WHERE r.id = c.id
    RETURNING r.id
)
INSERT INTO hub.rule_versions (rule_id, version, spec, enabled, created_by, note)
SELECT id, 2, spec || '{"metric": "temperature"}'::jsonb, true, 'migration',
       'enabled: a station silent for 10 intervals is a dropout'
FROM current;

INSERT INTO hub.sop_items (alert_type, item_no, text) VALUES
    ('crowd', 3, 'At 4 persons/m²: stop further inflow (close entrances, hold trains or buses, redirect)'),
    ('crowd', 4, 'At 5 persons/m²: assign police-112, open every exit, broadcast dispersal guidance')
ON CONFLICT DO NOTHING;
