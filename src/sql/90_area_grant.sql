-----------------------------------------------------------------------------
-- Row-level security by area (spec 8).  Every table that holds a person or
-- their events shows a role (other than the owner, who bypasses it, and
-- superusers) only the rows of the areas granted to it: resident, visit and
-- event by their area, carer, tier history, door tokens and withdrawn visits
-- by their resident, steps and transitions by their event.  Writes to
-- residents and carers need care.  Fails closed: without a grant row a role
-- sees no row, whatever table privileges it was given by hand.
-----------------------------------------------------------------------------
-- Each policy is a probe per row (sees_area), so a single-row write costs
-- a hash lookup, not an expansion of the granted subtree; rows keyed by a
-- resident or an event find its area through the primary key.
ALTER TABLE resident ENABLE ROW LEVEL SECURITY;
CREATE POLICY resident_read ON resident FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
CREATE POLICY resident_insert ON resident FOR INSERT
	WITH CHECK (sanse.sees_area(area_id, 'care'));
CREATE POLICY resident_update ON resident FOR UPDATE
	USING (sanse.sees_area(area_id, 'care'))
	WITH CHECK (sanse.sees_area(area_id, 'care'));
CREATE POLICY resident_delete ON resident FOR DELETE
	USING (sanse.sees_area(area_id, 'care'));

ALTER TABLE carer ENABLE ROW LEVEL SECURITY;
CREATE POLICY carer_read ON carer FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));
CREATE POLICY carer_write ON carer FOR ALL
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'care'))
	WITH CHECK (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'care'));

ALTER TABLE visit ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_read ON visit FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
ALTER TABLE event ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_read ON event FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
ALTER TABLE event_step ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_step_read ON event_step FOR SELECT
	USING (sanse.sees_area((SELECT e.area_id FROM sanse.event e WHERE e.id = event_id), 'read'));
ALTER TABLE event_transition ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_transition_read ON event_transition FOR SELECT
	USING (sanse.sees_area((SELECT e.area_id FROM sanse.event e WHERE e.id = event_id), 'read'));
ALTER TABLE tier_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY tier_history_read ON tier_history FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));
ALTER TABLE door_token ENABLE ROW LEVEL SECURITY;
CREATE POLICY door_token_read ON door_token FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));
ALTER TABLE visit_withdrawn ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_withdrawn_read ON visit_withdrawn FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));

-- Grant changes run one at a time: each takes this table's lock in its
-- trigger and keeps it to commit, so two administrators' GRANTs and REVOKEs
-- never update one table's privileges at once (XX000 "tuple concurrently
-- updated"); the second waits for the first to commit.  Nobody holds a
-- privilege on it, so only the owner (the trigger runs as the owner) can
-- lock it: an advisory lock could be taken by any login and hold every grant
-- change up.
CREATE TABLE grant_lock ();
REVOKE ALL ON grant_lock FROM PUBLIC;
COMMENT ON TABLE grant_lock IS 'locked by the area_grant trigger until its transaction ends: grant changes one at a time; no rows, no grants';

-- A grant row is the whole recipe: inserting, changing or deleting one gives
-- its role exactly the privileges its strongest remaining access needs
-- (schema usage is everyone's), and takes back the others, including any
-- granted by hand on these objects.
CREATE OR REPLACE FUNCTION area_grant_privileges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	r name;
	roles name[];
	best text;
	aggregate_views text := 'sanse.coverage, sanse.coverage_by_tier, sanse.overdue_events, sanse.grid_daily_report, sanse.loop_metrics, sanse.worker_checkin_rate, sanse.coverage_history, sanse.device_status';
	-- the district's structure has no row-level security: grant rows manage
	-- only SELECT on it (its writes are granted by hand)
	structure text := 'sanse.area, sanse.worker, sanse.department';
	read_relations text := 'sanse.carer, sanse.visit, sanse.event, sanse.event_step, '
	                       'sanse.event_transition, sanse.tier_history, sanse.open_events, sanse.worker_load, sanse.carer_gaps, sanse.sweep_status, '
	                       'sanse.device, sanse.device_reading';
	-- what an installer writes of a device (its last times are the write path's)
	device_columns text := 'kind, resident_id, area_id, report_every, active, installed_at';
	resident_read_columns text;
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'area_grant_privileges', '{sanse.area_grant}');
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
		-- the widest access granted to the role (sanse.grant_access orders them)
		SELECT a.value INTO best
		  FROM sanse.area_grant g JOIN sanse.grant_access a ON a.value = g.access
		 WHERE g.role = r AND g.role_oid = (SELECT x.oid FROM pg_catalog.pg_roles x WHERE x.rolname = r)
		 ORDER BY a.position DESC LIMIT 1;
		EXECUTE format('REVOKE ALL ON %s FROM %I', aggregate_views, r);
		EXECUTE format('REVOKE ALL ON %s FROM %I', read_relations, r);
		EXECUTE format('REVOKE SELECT ON %s FROM %I', structure, r);
		EXECUTE format('REVOKE ALL ON sanse.resident FROM %I', r);
		EXECUTE format('REVOKE ALL ON sanse.resident_profile FROM %I', r);
		EXECUTE format('REVOKE ALL (%s, last_reading_at, last_active_at) ON sanse.device FROM %I', device_columns, r);
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
			EXECUTE format('GRANT INSERT (%s), UPDATE (%s) ON sanse.device TO %I', device_columns, device_columns, r);
			EXECUTE format('GRANT SELECT ON sanse.resident_profile TO %I', r);
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
CREATE TRIGGER area_grant_privileges_insert AFTER INSERT ON area_grant
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_grant_privileges();
CREATE TRIGGER area_grant_privileges_update AFTER UPDATE ON area_grant
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_grant_privileges();
CREATE TRIGGER area_grant_privileges_delete AFTER DELETE ON area_grant
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_grant_privileges();
CREATE TRIGGER area_grant_audit AFTER INSERT OR UPDATE OR DELETE ON area_grant
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER area_grant_no_truncate BEFORE TRUNCATE ON area_grant
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_grant FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION area_grant_privileges() FROM PUBLIC;

-- The views that filter by grant run as their owner, under no row-level
-- security: as security barriers, a caller's own functions in a WHERE
-- clause run on the rows they return, never below the filter or the
-- aggregates (only leakproof operators, like = on a path, are pushed down).
ALTER VIEW coverage SET (security_barrier = true);
ALTER VIEW coverage_by_tier SET (security_barrier = true);
ALTER VIEW overdue_events SET (security_barrier = true);
ALTER VIEW grid_daily_report SET (security_barrier = true);
ALTER VIEW loop_metrics SET (security_barrier = true);
ALTER VIEW coverage_history SET (security_barrier = true);
ALTER VIEW worker_checkin_rate SET (security_barrier = true);
ALTER VIEW open_events SET (security_barrier = true);
ALTER VIEW worker_load SET (security_barrier = true);
ALTER VIEW carer_gaps SET (security_barrier = true);

-- Sanse's lock bound (75_sweeps.sql) on the closed loop's functions, as on
-- check_in and sweep: a town's role that locks a table or holds rows holds
-- another town's call up for at most 5 s, which then fails with 55P03.
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
	          WHERE p.pronamespace = 'sanse'::regnamespace
	            AND p.proname IN ('raise_event', 'dispatch_task', 'arrive', 'handle_event', 'whistle', 'feed_back', 'evaluate')
	          ORDER BY p.oid LOOP
		EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L', f, '5s');
	END LOOP;
END
$$;
