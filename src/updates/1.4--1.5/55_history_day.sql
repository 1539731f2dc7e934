-- Issue 22, a day of history from what the day changed: the residents
-- counted at the last recorded day's end, per resident and per area, and the
-- writes noted since (src/sql/78_history_day.sql).  Empty here: the first
-- day recorded after the upgrade is counted from every resident.
CREATE TABLE sanse.area_day_change (
	resident_id bigint NOT NULL,
	at timestamptz NOT NULL
);
REVOKE ALL ON sanse.area_day_change FROM PUBLIC;
COMMENT ON TABLE sanse.area_day_change IS 'residents a write may have moved in the daily history since the last recorded day, with the latest time the write carries (appended by triggers on resident and tier_history; consumed by record_area_day)';

CREATE TABLE sanse.area_day_member (
	resident_id bigint PRIMARY KEY,
	area_id bigint NOT NULL,
	tier sanse.risk_tier NOT NULL
);
REVOKE ALL ON sanse.area_day_member FROM PUBLIC;
COMMENT ON TABLE sanse.area_day_member IS 'the residents in the programme at the end of the day in area_day_state, with the area and tier they were counted in (written only by record_area_day)';

CREATE TABLE sanse.area_day_tally (
	area_id bigint PRIMARY KEY,
	red integer NOT NULL,
	yellow integer NOT NULL,
	blue integer NOT NULL
);
REVOKE ALL ON sanse.area_day_tally FROM PUBLIC;
COMMENT ON TABLE sanse.area_day_tally IS 'area_day_member counted per area and tier (written only by record_area_day)';

CREATE TABLE sanse.area_day_state (
	day date PRIMARY KEY,
	ends_at timestamptz NOT NULL
);
REVOKE ALL ON sanse.area_day_state FROM PUBLIC;
COMMENT ON TABLE sanse.area_day_state IS 'the day (and its end) area_day_member and area_day_tally are for; no row: the next day recorded is counted from every resident';

SELECT pg_catalog.pg_extension_config_dump('sanse.area_day_change', '');
SELECT pg_catalog.pg_extension_config_dump('sanse.area_day_member', '');
SELECT pg_catalog.pg_extension_config_dump('sanse.area_day_tally', '');
SELECT pg_catalog.pg_extension_config_dump('sanse.area_day_state', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON sanse.area_day_change FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION sanse.restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON sanse.area_day_member FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION sanse.restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON sanse.area_day_tally FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION sanse.restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON sanse.area_day_state FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION sanse.restore_guard();

-- the triggers need their function now: a body that does nothing, replaced
-- by the real one with the functions that follow
CREATE FUNCTION sanse.area_day_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER area_day_note_insert AFTER INSERT ON sanse.resident REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.area_day_note();
CREATE TRIGGER area_day_note_update AFTER UPDATE ON sanse.resident
	FOR EACH ROW WHEN (OLD.area_id IS DISTINCT FROM NEW.area_id OR OLD.tier IS DISTINCT FROM NEW.tier
	                   OR OLD.active IS DISTINCT FROM NEW.active OR OLD.deactivated_at IS DISTINCT FROM NEW.deactivated_at
	                   OR OLD.registered_at IS DISTINCT FROM NEW.registered_at OR OLD.forgotten_at IS DISTINCT FROM NEW.forgotten_at)
	EXECUTE FUNCTION sanse.area_day_note();
CREATE TRIGGER area_day_note_delete AFTER DELETE ON sanse.resident REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.area_day_note();
CREATE TRIGGER area_day_note_truncate AFTER TRUNCATE ON sanse.resident
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.area_day_note();
CREATE TRIGGER area_day_note_insert AFTER INSERT ON sanse.tier_history REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.area_day_note();
CREATE TRIGGER area_day_note_update AFTER UPDATE ON sanse.tier_history
	FOR EACH ROW WHEN (OLD.changed_at IS DISTINCT FROM NEW.changed_at OR OLD.new_tier IS DISTINCT FROM NEW.new_tier
	                   OR OLD.resident_id IS DISTINCT FROM NEW.resident_id)
	EXECUTE FUNCTION sanse.area_day_note();
CREATE TRIGGER area_day_note_delete AFTER DELETE ON sanse.tier_history REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.area_day_note();
CREATE TRIGGER area_day_note_truncate AFTER TRUNCATE ON sanse.tier_history
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.area_day_note();

