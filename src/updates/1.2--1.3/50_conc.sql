-- Issue 18, locks and concurrency (conc): grant changes one at a time;
-- sanse's statements give up on a foreign lock after a bound, and the sweep
-- says who held it; one missed period, one overdue event.

-- Grant changes one at a time (90_area_grant.sql).
CREATE TABLE grant_lock ();
REVOKE ALL ON grant_lock FROM PUBLIC;
COMMENT ON TABLE grant_lock IS 'locked by the area_grant trigger until its transaction ends: grant changes one at a time; no rows, no grants';

CREATE OR REPLACE FUNCTION area_grant_privileges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	r name;
	roles name[];
	best text;
	aggregate_views text := 'sanse.coverage, sanse.coverage_by_tier, sanse.overdue_events, sanse.grid_daily_report, sanse.loop_metrics, sanse.worker_checkin_rate, sanse.coverage_history';
	-- the district's structure has no row-level security: grant rows manage
	-- only SELECT on it (its writes are granted by hand)
	structure text := 'sanse.area, sanse.worker, sanse.department';
	read_relations text := 'sanse.carer, sanse.visit, sanse.event, sanse.event_step, '
	                       'sanse.event_transition, sanse.tier_history, sanse.open_events, sanse.worker_load, sanse.carer_gaps, sanse.sweep_status';
	resident_read_columns text;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.area_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function area_grant_privileges() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.area_grant.';
	END IF;
	-- one grant change at a time, to commit (see grant_lock); the queries
	-- below then see what the previous one committed
	LOCK TABLE sanse.grant_lock IN EXCLUSIVE MODE;
	SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO resident_read_columns
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = 'sanse.resident'::regclass AND a.attnum > 0 AND NOT a.attisdropped
	   AND a.attname NOT IN ('factors', 'lat', 'lon', 'id_number_hash', 'id_number');
	-- each branch names only the transition tables its event has
	IF TG_OP = 'INSERT' THEN
		roles := ARRAY(SELECT DISTINCT n.role FROM new_rows n);
	ELSIF TG_OP = 'DELETE' THEN
		roles := ARRAY(SELECT DISTINCT o.role FROM old_rows o);
	ELSE
		roles := ARRAY(SELECT n.role FROM new_rows n UNION SELECT o.role FROM old_rows o);
	END IF;
	FOREACH r IN ARRAY roles LOOP
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		SELECT CASE max(CASE g.access WHEN 'care' THEN 3 WHEN 'read' THEN 2 ELSE 1 END)
		         WHEN 3 THEN 'care' WHEN 2 THEN 'read' WHEN 1 THEN 'aggregate' END
		  INTO best FROM sanse.area_grant g
		 WHERE g.role = r AND g.role_oid = (SELECT x.oid FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		EXECUTE format('REVOKE ALL ON %s FROM %I', aggregate_views, r);
		EXECUTE format('REVOKE ALL ON %s FROM %I', read_relations, r);
		EXECUTE format('REVOKE SELECT ON %s FROM %I', structure, r);
		EXECUTE format('REVOKE ALL ON sanse.resident FROM %I', r);
		EXECUTE format('REVOKE ALL (%s, factors, lat, lon, id_number_hash, id_number) ON sanse.resident FROM %I',
		               resident_read_columns, r);
		IF best IS NOT NULL THEN
			EXECUTE format('GRANT SELECT ON %s TO %I', aggregate_views, r);
		END IF;
		IF best IN ('read', 'care') THEN
			EXECUTE format('GRANT SELECT ON %s TO %I', read_relations, r);
			EXECUTE format('GRANT SELECT ON %s TO %I', structure, r);
			EXECUTE format('GRANT SELECT (%s) ON sanse.resident TO %I', resident_read_columns, r);
		END IF;
		IF best = 'care' THEN
			EXECUTE format('GRANT SELECT, INSERT, UPDATE ON sanse.resident TO %I', r);
			EXECUTE format('GRANT INSERT, UPDATE, DELETE ON sanse.carer TO %I', r);
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;

