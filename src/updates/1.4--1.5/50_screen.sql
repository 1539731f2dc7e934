-- Issue 22, the screen at the cost of what it shows: carer_gaps reads the
-- residents with a gap, kept by triggers (src/sql/45_carer.sql).
CREATE TABLE sanse.carer_gap (
	resident_id bigint PRIMARY KEY REFERENCES sanse.resident (id) ON DELETE CASCADE,
	missing_forces text[] NOT NULL
);
REVOKE ALL ON sanse.carer_gap FROM PUBLIC;
-- the rows as the view computed them in 1.4 (sanse.carer_gap_refresh, which
-- keeps them from now on, follows with the functions)
INSERT INTO sanse.carer_gap (resident_id, missing_forces)
SELECT r.id, array_agg(f.force ORDER BY f.ord)
  FROM sanse.resident r
 CROSS JOIN unnest(sanse.forces()) WITH ORDINALITY AS f(force, ord)
 WHERE NOT EXISTS (SELECT 1 FROM sanse.carer c JOIN sanse.worker w ON w.id = c.worker_id
                    WHERE c.resident_id = r.id AND c.force = f.force AND w.active)
 GROUP BY r.id;
-- the triggers need their function now: a body that does nothing, replaced
-- by the real one with the functions that follow
CREATE FUNCTION sanse.carer_gap_keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER carer_gap_insert AFTER INSERT ON sanse.carer REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.carer_gap_keep();
CREATE TRIGGER carer_gap_update AFTER UPDATE ON sanse.carer REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.carer_gap_keep();
CREATE TRIGGER carer_gap_delete AFTER DELETE ON sanse.carer REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.carer_gap_keep();
CREATE TRIGGER carer_gap_truncate AFTER TRUNCATE ON sanse.carer
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.carer_gap_keep();
CREATE TRIGGER carer_gap_insert AFTER INSERT ON sanse.resident REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.carer_gap_keep();
CREATE TRIGGER carer_gap_update AFTER UPDATE ON sanse.worker REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.carer_gap_keep();
CREATE TRIGGER z_carer_gap AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sanse.force
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.carer_gap_keep();
SELECT pg_catalog.pg_extension_config_dump('sanse.carer_gap', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON sanse.carer_gap FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION sanse.restore_guard();
