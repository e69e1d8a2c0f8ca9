-- A fall seen by a camera goes to fire-119, as the `fall` SOP of 0006 says ("Assign fire-119
-- (ambulance) if the person does not get up"): in Korea the 119 emergency medical service
-- (119 구급대) carries the injured, not the police. 0016 had mapped falls to police-112 under
-- cctv-police; this moves them to a rule of their own (docs/analytics.md). Plain SQL: both profiles.

-- The new built-in rule, version 1.
WITH seed (spec) AS (VALUES
    ($json${"id": "cctv-fall", "kind": "event_map", "alert_type": "fall",
      "title": "A person fallen, seen by a camera", "device_kind": "cctv",
      "events": {"fall": {"severity": "critical", "agency": "fire-119"}},
      "description": "A fall with possible injury: the 119 ambulance (119 구급대), not the police."}$json$::jsonb)
), rules AS (
    INSERT INTO hub.rules (id, kind, version, enabled, builtin, updated_by)
    SELECT spec->>'id', spec->>'kind', 1, true, true, 'migration' FROM seed
    RETURNING id
)
INSERT INTO hub.rule_versions (rule_id, version, spec, enabled, created_by, note)
SELECT spec->>'id', 1, spec, true, 'migration', 'falls go to fire-119 (ambulance)' FROM seed;

-- cctv-police no longer maps falls: a new version of whatever its current definition is (an
-- operator's edits stay), only while that still sends falls to police-112 and maps more than
-- falls (a rule must map at least one event).
WITH current AS (
    SELECT r.id, r.version, r.enabled, v.spec
    FROM hub.rules r JOIN hub.rule_versions v ON v.rule_id = r.id AND v.version = r.version
    WHERE r.id = 'cctv-police'
      AND v.spec->'events'->'fall'->>'agency' = 'police-112'
      AND (v.spec->'events') - 'fall' <> '{}'::jsonb
), bumped AS (
    UPDATE hub.rules r SET version = c.version + 1, updated_at = now(), updated_by = 'migration'
    FROM current c WHERE r.id = c.id
    RETURNING r.id
)
INSERT INTO hub.rule_versions (rule_id, version, spec, enabled, created_by, note)
SELECT id, version + 1,
       CASE WHEN spec->>'title' = 'Violence, intrusion or a fall seen by a camera'
            THEN jsonb_set(spec #- '{events,fall}', '{title}', '"Violence or intrusion seen by a camera"')
            ELSE spec #- '{events,fall}' END,
       enabled, 'migration', 'falls moved to cctv-fall (fire-119)'
FROM current;
