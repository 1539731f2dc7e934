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

CREATE OR REPLACE VIEW carer_gaps AS
SELECT r.id AS resident_id, r.area_id, r.tier::text AS tier,
       array_agg(f.force ORDER BY f.ord) AS missing_forces
  FROM resident r
 CROSS JOIN unnest(forces()) WITH ORDINALITY AS f(force, ord)
 WHERE r.active
   AND r.area_id IN (SELECT sanse.granted_areas('read', current_user))
   AND NOT EXISTS (SELECT 1 FROM carer c JOIN worker w ON w.id = c.worker_id
                    WHERE c.resident_id = r.id AND c.force = f.force AND w.active)
 GROUP BY r.id, r.area_id, r.tier;
COMMENT ON VIEW carer_gaps IS 'active residents whose five-for-one is incomplete, with the forces missing (inactive carers count as missing)';

SELECT pg_catalog.pg_extension_config_dump('carer', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON carer FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION carer_check() FROM PUBLIC;
