-- Device ids are MQTT usernames and topic levels, and both are case-sensitive: "DEVA"
-- beside "devA" would be a second broker login and a second topic prefix that operators,
-- vendors and logs can hardly tell apart. Ids are ASCII ([A-Za-z0-9._:-], 0001), so
-- lower() folds them the same in every locale.
--
-- A registry from before this migration may already hold such twins. Picking one to
-- keep is the administrator's decision (each may have data and a vendor using it), so
-- the migration stops and names them instead of guessing; docs/devices.md says what to do.
DO $$
DECLARE
    twins text;
BEGIN
    SELECT string_agg(ids, '; ' ORDER BY ids) INTO twins
    FROM (SELECT string_agg(id, ', ' ORDER BY id) AS ids
          FROM hub.devices GROUP BY lower(id) HAVING count(*) > 1) AS g;
    IF twins IS NOT NULL THEN
        RAISE EXCEPTION 'device ids that differ only in letter case are registered: %. Keep one '
            'id of each group and delete the others (see "Device ids that differ only in case" '
            'in docs/devices.md), then run `cityhub migrate` again.', twins
            USING ERRCODE = 'unique_violation';
    END IF;
END
$$;

CREATE UNIQUE INDEX devices_id_lower ON hub.devices (lower(id));
