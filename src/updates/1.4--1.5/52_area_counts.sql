-- Issue 22, coverage kept per micro grid (src/sql/80_area_count.sql):
-- area_count, as of now for every grid, and area_count_dirty, the grids
-- written since, appended by triggers on resident.
CREATE TABLE sanse.area_count (
	area_id bigint NOT NULL,
	tier sanse.risk_tier NOT NULL,
	residents integer NOT NULL,
	due timestamptz[] NOT NULL,
	visited_due timestamptz[] NOT NULL,
	visited_opens timestamptz[] NOT NULL,
	PRIMARY KEY (area_id, tier)
);
-- a grid's times stay inline and uncompressed up to 8 kB (about 300 residents)
ALTER TABLE sanse.area_count SET (toast_tuple_target = 8160);
REVOKE ALL ON sanse.area_count FROM PUBLIC;
-- a town's row of the screen finds the town by its path as text
CREATE INDEX area_path_text ON sanse.area ((path::text));

CREATE TABLE sanse.area_count_dirty (
	area_id bigint NOT NULL
);
REVOKE ALL ON sanse.area_count_dirty FROM PUBLIC;
-- every grid counted (sanse.area_count_refresh, which keeps them from now
-- on, follows with the functions)
INSERT INTO sanse.area_count (area_id, tier, residents, due, visited_due, visited_opens)
SELECT r.area_id, r.tier, count(*),
       coalesce(array_agg(sanse.due_at(r.next_visit) ORDER BY sanse.due_at(r.next_visit))
                FILTER (WHERE r.next_visit IS NOT NULL), '{}'),
       coalesce(array_agg(sanse.due_at(r.next_visit) ORDER BY sanse.due_at(r.next_visit))
                FILTER (WHERE r.next_visit IS NOT NULL AND r.last_visit_at IS NOT NULL), '{}'),
       coalesce(array_agg(sanse.opens_at(r.next_visit) ORDER BY sanse.opens_at(r.next_visit))
                FILTER (WHERE r.next_visit IS NOT NULL AND r.last_visit_at IS NOT NULL), '{}')
  FROM sanse.resident r
 WHERE r.active AND r.tier IS NOT NULL
 GROUP BY r.area_id, r.tier;
-- the triggers need their function now: a body that does nothing, replaced
-- by the real one with the functions that follow
CREATE FUNCTION sanse.area_count_mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER area_count_insert AFTER INSERT ON sanse.resident REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.area_count_mark();
CREATE FUNCTION sanse.area_count_mark_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER resident_90_area_count BEFORE UPDATE ON sanse.resident
	FOR EACH ROW
	WHEN ((OLD.area_id, OLD.tier, OLD.active, OLD.next_visit, OLD.last_visit_at)
	      IS DISTINCT FROM (NEW.area_id, NEW.tier, NEW.active, NEW.next_visit, NEW.last_visit_at))
	EXECUTE FUNCTION sanse.area_count_mark_row();
CREATE TRIGGER area_count_delete AFTER DELETE ON sanse.resident REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.area_count_mark();
CREATE TRIGGER area_count_truncate AFTER TRUNCATE ON sanse.resident
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.area_count_mark();
SELECT pg_catalog.pg_extension_config_dump('sanse.area_count', '');
SELECT pg_catalog.pg_extension_config_dump('sanse.area_count_dirty', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON sanse.area_count FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION sanse.restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON sanse.area_count_dirty FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION sanse.restore_guard();
