-----------------------------------------------------------------------------
-- What a loader sees of its batches, and the one record per person
-----------------------------------------------------------------------------
CREATE OR REPLACE VIEW feed_outcome AS
SELECT i.department, i.batch, i.line, i.outcome, i.reason,
       CASE WHEN i.outcome IN ('matched', 'registered', 'left') THEN i.resident_id END AS resident_id, i.loaded_at
  FROM sanse.feed_inbox i
 WHERE i.department IN (SELECT d.code FROM sanse.department d WHERE sanse.may_load_feed(d.code, current_user));
ALTER VIEW feed_outcome SET (security_barrier = true);
REVOKE ALL ON feed_outcome FROM PUBLIC;
COMMENT ON VIEW feed_outcome IS 'the outcome and reason of every feed row of the departments the current role loads (no names, no hashes; the resident only of a row matched, registered or left)';

CREATE OR REPLACE VIEW resident_profile AS
SELECT r.id AS resident_id, r.area_id, a.path::text AS area_path, r.name, r.active,
       r.tier, r.computed_tier, r.tier_override, r.override_reason,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                 'factor', f.f,
                 'sources', (SELECT coalesce(jsonb_agg(jsonb_build_object('source', s.source, 'since', s.since, 'batch', s.batch)
                                                       ORDER BY s.since, s.source), '[]'::jsonb)
                               FROM sanse.factor_source s
                              WHERE s.resident_id = r.id AND s.factor = f.f AND s.until IS NULL))
               ORDER BY f.o), '[]'::jsonb)
          FROM unnest(r.factors) WITH ORDINALITY f(f, o)) AS factors,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('worker_id', c.worker_id, 'force', c.force, 'name', w.name)
                                  ORDER BY c.force), '[]'::jsonb)
          FROM sanse.carer c JOIN sanse.worker w ON w.id = c.worker_id
         WHERE c.resident_id = r.id) AS carers,
       r.last_visit_at, r.next_visit,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('event_id', e.id, 'kind', e.kind, 'stage', e.status, 'level', e.level)
                                  ORDER BY e.id), '[]'::jsonb)
          FROM sanse.event e
         WHERE e.resident_id = r.id AND e.status <> 'closed') AS open_events,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('device_id', d.id, 'kind', d.kind, 'active', d.active,
                                                     'report_every', d.report_every, 'last_reading_at', d.last_reading_at,
                                                     'last_active_at', d.last_active_at,
                                                     'silent', EXISTS (SELECT 1 FROM sanse.event e
                                                                        WHERE e.device_id = d.id AND e.kind = 'task' AND e.rule = 'silent'
                                                                          AND e.status <> 'closed'))
                                  ORDER BY d.id), '[]'::jsonb)
          FROM sanse.device d
         WHERE d.resident_id = r.id) AS devices
  FROM sanse.resident r
  JOIN sanse.area a ON a.id = r.area_id
 WHERE r.forgotten_at IS NULL AND sanse.sees_area(r.area_id, 'care');
ALTER VIEW resident_profile SET (security_barrier = true);
REVOKE ALL ON resident_profile FROM PUBLIC;
COMMENT ON VIEW resident_profile IS 'one record per person (一人一档), care access only: tiers, each factor with its sources and since when, carers, last visit, next window, open events, devices (kind, active, how often they report, last reading and use, silent now)';

-- Care roles read the profile (the area_grant recipe grants it; this gives
-- it to roles that held care before it existed).
DO $$
DECLARE
	r name;
BEGIN
	FOR r IN SELECT DISTINCT g.role FROM sanse.area_grant g JOIN pg_catalog.pg_roles x ON x.rolname = g.role AND x.oid = g.role_oid
	          WHERE g.access = 'care' ORDER BY 1 LOOP
		EXECUTE format('GRANT SELECT ON sanse.resident_profile TO %I', r);
	END LOOP;
END
$$;

-- Triggers, created here once (an upgrade creates them after the functions
-- of 91-94 exist): the ID number's hash as a feed row is stored, the sources of
-- resident.factors, forgetting, departures confirmed, feed grants.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = 'sanse.feed_inbox'::regclass AND tgname = 'feed_inbox_row') THEN
		CREATE TRIGGER feed_inbox_statement BEFORE INSERT ON sanse.feed_inbox
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.feed_inbox_statement();
		CREATE TRIGGER feed_inbox_row BEFORE INSERT OR UPDATE OF id_number ON sanse.feed_inbox
			FOR EACH ROW EXECUTE FUNCTION sanse.feed_inbox_row();
		-- fired after the hash of the clear number (10), before classification (20)
		CREATE TRIGGER resident_15_factor_sources BEFORE UPDATE OF factors ON sanse.resident
			FOR EACH ROW WHEN (OLD.factors IS DISTINCT FROM NEW.factors)
			EXECUTE FUNCTION sanse.resident_factor_sources();
		CREATE TRIGGER resident_factor_sources_insert AFTER INSERT ON sanse.resident
			REFERENCING NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.resident_factor_sources();
		CREATE TRIGGER resident_forget_sources AFTER UPDATE OF forgotten_at ON sanse.resident
			FOR EACH ROW WHEN (NEW.forgotten_at IS NOT NULL AND OLD.forgotten_at IS NULL)
			EXECUTE FUNCTION sanse.resident_forget_sources();
		CREATE TRIGGER feed_departure_confirm AFTER UPDATE OF status ON sanse.event
			FOR EACH ROW WHEN (NEW.status = 'closed' AND OLD.status <> 'closed' AND NEW.kind = 'task')
			EXECUTE FUNCTION sanse.feed_departure_confirm();
		CREATE TRIGGER feed_grant_role BEFORE INSERT OR UPDATE ON sanse.feed_grant
			FOR EACH ROW EXECUTE FUNCTION sanse.feed_grant_role();
		ALTER TABLE sanse.feed_grant ENABLE ALWAYS TRIGGER feed_grant_role;
		CREATE TRIGGER feed_grant_privileges_insert AFTER INSERT ON sanse.feed_grant
			REFERENCING NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.feed_grant_privileges();
		CREATE TRIGGER feed_grant_privileges_update AFTER UPDATE ON sanse.feed_grant
			REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.feed_grant_privileges();
		CREATE TRIGGER feed_grant_privileges_delete AFTER DELETE ON sanse.feed_grant
			REFERENCING OLD TABLE AS old_rows
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.feed_grant_privileges();
		CREATE TRIGGER feed_grant_audit AFTER INSERT OR UPDATE OR DELETE ON sanse.feed_grant
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.audit_change();
		CREATE TRIGGER feed_grant_no_truncate BEFORE TRUNCATE ON sanse.feed_grant
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.refuse_truncate();
	END IF;
END
$$;
