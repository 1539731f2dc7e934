-----------------------------------------------------------------------------
-- Five-for-one (五包一): one carer of each force per resident
-----------------------------------------------------------------------------

CREATE TABLE carer (
	resident_id bigint NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
	worker_id bigint NOT NULL,
	force text NOT NULL,
	PRIMARY KEY (resident_id, worker_id),
	CONSTRAINT carer_one_per_force UNIQUE (resident_id, force),
	FOREIGN KEY (worker_id, force) REFERENCES worker (id, force) ON UPDATE CASCADE
);
CREATE INDEX carer_worker ON carer (worker_id);
COMMENT ON TABLE carer IS 'five-for-one: the responsible worker of each force for a resident';

-- (runs as the owner: it locks the worker row, which a care role may read but not update)
CREATE OR REPLACE FUNCTION carer_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	w sanse.worker;
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'carer_check', '{sanse.carer}');
	SELECT * INTO w FROM sanse.worker WHERE id = NEW.worker_id FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'worker % does not exist', NEW.worker_id USING ERRCODE = '23503';
	END IF;
	IF NOT w.active THEN
		RAISE EXCEPTION 'worker % is not active', NEW.worker_id
			USING ERRCODE = '55000', HINT = 'Only active workers can be carers.';
	END IF;
	NEW.force := w.force;
	RETURN NEW;
END
$$;
CREATE TRIGGER carer_check BEFORE INSERT OR UPDATE OF worker_id, force ON carer
	FOR EACH ROW EXECUTE FUNCTION carer_check();

-- The resident's carers, in worker order: whom a missed window is charged to
-- and a met one credited to.
-- (PL/pgSQL: planned once a session, where a SQL function with a sub-select
-- is planned again on every call of the statement that calls it.)
CREATE OR REPLACE FUNCTION carers_of(resident_id bigint) RETURNS bigint[]
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
	RETURN ARRAY(SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = carers_of.resident_id ORDER BY c.worker_id);
END
$$;
COMMENT ON FUNCTION carers_of(bigint) IS 'the resident''s carers (five-for-one), in worker id order';

-- The residents whose five-for-one is incomplete, kept as carers, workers
-- and residents are written (issue 22: the view read every carer of every
-- resident, 38 s at 1,000x the paper): one row per resident with a force
-- missing, in the order of sanse.force (inactive carers count as missing).
-- Residents of every state; the view keeps the active ones.  Written only by
-- the triggers below and carer_gap_rebuild().
CREATE TABLE carer_gap (
	resident_id bigint PRIMARY KEY REFERENCES resident (id) ON DELETE CASCADE,
	missing_forces text[] NOT NULL
);
REVOKE ALL ON carer_gap FROM PUBLIC;
COMMENT ON TABLE carer_gap IS 'residents whose five-for-one is incomplete and the forces missing (inactive carers count as missing), kept by triggers on carer, worker and resident; carer_gaps reads it';

-- The forces missing from a resident's active carers' forces, in the order
-- of sanse.force (inlined into the statements below).
CREATE OR REPLACE FUNCTION carer_gap_missing(forces text[]) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT ARRAY(SELECT f.force FROM unnest(sanse.forces()) WITH ORDINALITY AS f(force, ord)
	              WHERE f.force <> ALL (coalesce(forces, '{}')) ORDER BY f.ord)
$$;
COMMENT ON FUNCTION carer_gap_missing(text[]) IS 'the forces of sanse.force missing from these, in order';

-- Compute again the gaps of some residents (NULL: every resident), in one
-- pass over their carers: the ids are joined (hashed), never probed as
-- = ANY of an array, so a statement that writes the carers of a whole
-- district costs what its rows cost.
CREATE OR REPLACE FUNCTION carer_gap_refresh(p_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	-- Two statements, not one with "p_ids IS NULL OR id IN (...)": under the
	-- OR the ids could only be a hashed subplan, which past work_mem is
	-- searched once a row (a province's generator spent 53 minutes here).
	IF p_ids IS NULL THEN
		DELETE FROM sanse.carer_gap;
		INSERT INTO sanse.carer_gap (resident_id, missing_forces)
		SELECT r.id, sanse.carer_gap_missing(c.forces)
		  FROM sanse.resident r
		  LEFT JOIN (SELECT c.resident_id, array_agg(c.force) AS forces
		               FROM sanse.carer c JOIN sanse.worker w ON w.id = c.worker_id
		              WHERE w.active
		              GROUP BY c.resident_id) c ON c.resident_id = r.id
		 WHERE NOT coalesce(c.forces, '{}') @> sanse.forces();
		RETURN;
	END IF;
	DELETE FROM sanse.carer_gap g USING (SELECT DISTINCT i.id FROM unnest(p_ids) i(id)) i WHERE g.resident_id = i.id;
	INSERT INTO sanse.carer_gap (resident_id, missing_forces)
	SELECT r.id, sanse.carer_gap_missing(c.forces)
	  FROM (SELECT DISTINCT i.id FROM unnest(p_ids) i(id)) i
	  JOIN sanse.resident r ON r.id = i.id
	  LEFT JOIN (SELECT c.resident_id, array_agg(c.force) AS forces
	               FROM (SELECT DISTINCT i.id FROM unnest(p_ids) i(id)) i
	               JOIN sanse.carer c ON c.resident_id = i.id
	               JOIN sanse.worker w ON w.id = c.worker_id
	              WHERE w.active
	              GROUP BY c.resident_id) c ON c.resident_id = r.id
	 WHERE NOT coalesce(c.forces, '{}') @> sanse.forces();
END
$$;
REVOKE ALL ON FUNCTION carer_gap_refresh(bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION carer_gap_refresh(bigint[]) IS 'compute carer_gap again for these residents (NULL: all)';

-- Every resident's gaps again: after rows were loaded with triggers off, or
-- the forces changed.
CREATE OR REPLACE FUNCTION carer_gap_rebuild() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	LOCK TABLE sanse.carer_gap IN EXCLUSIVE MODE;
	PERFORM sanse.carer_gap_refresh(NULL);
	RETURN (SELECT count(*) FROM sanse.carer_gap);
END
$$;
REVOKE ALL ON FUNCTION carer_gap_rebuild() FROM PUBLIC;
COMMENT ON FUNCTION carer_gap_rebuild() IS 'compute carer_gap again for every resident (after a load with triggers off); returns how many have a gap';

-- The triggers: the residents whose carers changed (a new resident has
-- none), or one of whose carers became active or inactive.
CREATE OR REPLACE FUNCTION carer_gap_keep() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'carer_gap_keep', ARRAY['sanse.carer'::regclass, 'sanse.resident'::regclass,
		'sanse.worker'::regclass, 'sanse.force'::regclass], 'sanse.carer, sanse.resident, sanse.worker or sanse.force');
	IF TG_TABLE_NAME = 'force' OR TG_OP = 'TRUNCATE' THEN
		PERFORM sanse.carer_gap_refresh(NULL);
	ELSIF TG_TABLE_NAME = 'resident' THEN
		PERFORM sanse.carer_gap_refresh(ARRAY(SELECT n.id FROM new_rows n));
	ELSIF TG_TABLE_NAME = 'worker' THEN
		PERFORM sanse.carer_gap_refresh(ARRAY(
			SELECT DISTINCT c.resident_id
			  FROM new_rows n JOIN old_rows o ON o.id = n.id
			  JOIN sanse.carer c ON c.worker_id = n.id
			 WHERE n.active IS DISTINCT FROM o.active));
	ELSIF TG_OP = 'INSERT' THEN
		PERFORM sanse.carer_gap_refresh(ARRAY(SELECT DISTINCT n.resident_id FROM new_rows n));
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM sanse.carer_gap_refresh(ARRAY(SELECT DISTINCT o.resident_id FROM old_rows o));
	ELSE
		PERFORM sanse.carer_gap_refresh(ARRAY(SELECT n.resident_id FROM new_rows n
		                                      UNION SELECT o.resident_id FROM old_rows o));
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION carer_gap_keep() FROM PUBLIC;
CREATE TRIGGER carer_gap_insert AFTER INSERT ON carer REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION carer_gap_keep();
CREATE TRIGGER carer_gap_update AFTER UPDATE ON carer REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION carer_gap_keep();
CREATE TRIGGER carer_gap_delete AFTER DELETE ON carer REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION carer_gap_keep();
CREATE TRIGGER carer_gap_truncate AFTER TRUNCATE ON carer
	FOR EACH STATEMENT EXECUTE FUNCTION carer_gap_keep();
CREATE TRIGGER carer_gap_insert AFTER INSERT ON resident REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION carer_gap_keep();
CREATE TRIGGER carer_gap_update AFTER UPDATE ON worker REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION carer_gap_keep();
-- after vocabulary_cache (triggers fire in name order): forces() reads the new rows
CREATE TRIGGER z_carer_gap AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON force
	FOR EACH STATEMENT EXECUTE FUNCTION carer_gap_keep();
SELECT pg_catalog.pg_extension_config_dump('carer_gap', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON carer_gap FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

CREATE OR REPLACE VIEW carer_gaps AS
SELECT r.id AS resident_id, r.area_id, r.tier::text AS tier, g.missing_forces
  FROM carer_gap g
  JOIN resident r ON r.id = g.resident_id
 WHERE r.active
   AND r.area_id IN (SELECT sanse.granted_areas('read', current_user));
COMMENT ON VIEW carer_gaps IS 'active residents whose five-for-one is incomplete, with the forces missing (inactive carers count as missing)';

SELECT pg_catalog.pg_extension_config_dump('carer', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON carer FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION carer_check() FROM PUBLIC;
