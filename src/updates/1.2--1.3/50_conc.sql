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


-- One missed period, one event (60_events.sql, 75_sweeps.sql, rederive_span
-- and close_overdue_events in 65_check_in.sql).  Each overdue event keeps its
-- period's anchor: the visit (or registration) its window was derived from,
-- i.e. the latest visit before its due time.  Where a re-derived window left
-- two events for one period (both open, or closed by one visit), the first
-- one opened stays; the others go, and the tally takes each back from the
-- carers it was charged to.
ALTER TABLE event ADD COLUMN anchor_at timestamptz;
COMMENT ON COLUMN event.anchor_at IS 'an overdue event''s missed period: the visit (or registration) its window was derived from; one event a period';
UPDATE event e
   SET anchor_at = coalesce((SELECT max(v.at) FROM visit v WHERE v.resident_id = e.resident_id AND v.at < e.due_at),
                            (SELECT r.registered_at FROM resident r WHERE r.id = e.resident_id))
 WHERE e.kind = 'overdue';
-- the same period for certain: both still open, or closed by the same visit
DELETE FROM event e
 WHERE e.kind = 'overdue'
   AND EXISTS (SELECT 1 FROM event f
                WHERE f.resident_id = e.resident_id AND f.kind = 'overdue' AND f.anchor_at = e.anchor_at AND f.id < e.id
                  AND ((f.status = 'open' AND e.status = 'open') OR f.visit_id = e.visit_id))
   AND NOT EXISTS (SELECT 1 FROM event c WHERE c.parent_id = e.id);
-- any other pair whose anchor cannot be told apart from the visits (a
-- last_visit_at written by hand, a withdrawn visit): the later keeps no anchor
UPDATE event e SET anchor_at = NULL
 WHERE e.kind = 'overdue'
   AND EXISTS (SELECT 1 FROM event f
                WHERE f.resident_id = e.resident_id AND f.kind = 'overdue' AND f.anchor_at = e.anchor_at AND f.id < e.id);
CREATE UNIQUE INDEX event_overdue_period_once ON event (resident_id, anchor_at) WHERE kind = 'overdue';
-- (its body names the columns of event: re-created with the new one, unchanged)
CREATE OR REPLACE FUNCTION tally_missed(events event[], sign int) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_missed)
	SELECT w.worker_id, sanse.month_of(e.due_at), tally_missed.sign
	  FROM unnest(tally_missed.events) e
	 CROSS JOIN LATERAL unnest(coalesce(e.charged_to, sanse.carers_of(e.resident_id))) w(worker_id)
	 WHERE e.kind = 'overdue';
END;


-- open_overdue_events and open_overdue_event take the anchor
DROP FUNCTION open_overdue_event(bigint, timestamptz, risk_tier);
DROP FUNCTION open_overdue_events(bigint[], timestamptz[], risk_tier[]);
CREATE FUNCTION open_overdue_events(p_residents bigint[], p_dues timestamptz[], p_tiers risk_tier[],
                                    p_anchors timestamptz[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	WITH created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at, charged_to, anchor_at)
		SELECT r.id, r.area_id, m.tier, 1, sanse.leader_for(r.area_id, 1), m.due, m.due,
		       sanse.zone_add(m.due, p.escalate_after), sanse.carers_of(r.id), m.anchor
		  FROM unnest(p_residents, p_dues, p_tiers, p_anchors) m(resident_id, due, tier, anchor)
		  JOIN sanse.resident r ON r.id = m.resident_id
		  JOIN sanse.tier_policy p ON p.tier = m.tier
		-- either unique index of overdue events: event_overdue_once (the
		-- window's) or event_overdue_period_once (the period's)
		ON CONFLICT DO NOTHING
		RETURNING id, assignee_id, level_since)
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT id, 1, assignee_id, level_since FROM created;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

CREATE FUNCTION open_overdue_event(p_resident bigint, p_due timestamptz, p_tier risk_tier, p_anchor timestamptz) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, sanse
RETURN sanse.open_overdue_events(ARRAY[p_resident], ARRAY[p_due], ARRAY[p_tier], ARRAY[p_anchor]);

CREATE OR REPLACE FUNCTION resident_keep_missed_window() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_keep_missed_window() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF sanse.due_at(OLD.next_visit) <= now() THEN
		PERFORM sanse.open_overdue_event(OLD.id, sanse.due_at(OLD.next_visit), OLD.tier,
		                                 coalesce(OLD.last_visit_at, OLD.registered_at));
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION close_overdue_events(p_resident bigint, p_visit bigint, p_at timestamptz,
                                     p_worker bigint, p_late_due timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	IF p_late_due IS NOT NULL THEN
		-- the period the visit came late for began at the visit before it
		PERFORM sanse.open_overdue_event(p_resident, p_late_due, (SELECT r.tier FROM sanse.resident r WHERE r.id = p_resident),
			coalesce((SELECT max(v.at) FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at < p_at),
			         (SELECT r.registered_at FROM sanse.resident r WHERE r.id = p_resident)));
	END IF;
	DELETE FROM sanse.event e
	 WHERE e.resident_id = p_resident AND e.status <> 'closed' AND e.kind = 'overdue' AND e.due_at > p_at;
	PERFORM sanse.escalate_events(p_at, p_resident);
	DELETE FROM sanse.event_step s USING sanse.event e
	 WHERE s.event_id = e.id AND e.resident_id = p_resident AND e.status <> 'closed' AND e.kind = 'overdue'
	   AND s.level > 1 AND s.at > p_at;
	UPDATE sanse.event e
	   SET (level, level_since, assignee_id) =
	       (SELECT s.level, s.at, s.assignee_id FROM sanse.event_step s
	         WHERE s.event_id = e.id ORDER BY s.level DESC LIMIT 1),
	       status = 'closed', resolved_at = p_at, visit_id = p_visit, closed_by = p_worker,
	       next_step_at = NULL
	 WHERE e.resident_id = p_resident AND e.status <> 'closed' AND e.kind = 'overdue';
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION sweep_overdue(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	ids bigint[];
	dues timestamptz[];
	tiers sanse.risk_tier[];
	anchors timestamptz[];
BEGIN
	PERFORM sanse.check_sweep_time(at);
	-- Lock the due residents and open the event of each missed window once,
	-- unless its missed period has its event already (a window re-derived
	-- after it was missed: one missed period, one event).  A resident whose
	-- row another transaction holds (a check-in, a writer, or a role keeping
	-- its own town's rows locked) is skipped, not waited for: the next sweep
	-- opens its event with the same due time and steps, or a late check-in
	-- opens and closes it, so no town's row locks hold up another's events.
	SELECT array_agg(d.id), array_agg(d.due), array_agg(d.tier), array_agg(d.anchor) INTO ids, dues, tiers, anchors
	  FROM (SELECT r.id, r.tier, sanse.due_at(r.next_visit) AS due, coalesce(r.last_visit_at, r.registered_at) AS anchor
	          FROM sanse.resident r
	         WHERE r.active AND r.next_visit IS NOT NULL
	           AND sanse.due_at(r.next_visit) <= sweep_overdue.at
	           FOR NO KEY UPDATE OF r SKIP LOCKED) d
	 WHERE NOT EXISTS (SELECT 1 FROM sanse.event e
	                    WHERE e.resident_id = d.id AND e.kind = 'overdue'
	                      AND (e.due_at = d.due OR e.anchor_at = d.anchor));
	IF ids IS NULL THEN
		RETURN 0;
	END IF;
	RETURN sanse.open_overdue_events(ids, dues, tiers, anchors);
END
$$;

CREATE OR REPLACE FUNCTION rederive_span(p_resident bigint, p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	until timestamptz := coalesce(p_to, now());
	anchor timestamptz := p_from;
	anchor_missed boolean := false;	-- the anchor's period has its missed window
	cur_tier sanse.risk_tier := sanse.tier_at(p_resident, p_from);
	w sanse.visit_window;
	m record;
	ev record;
	closer record;
	carers bigint[] := sanse.carers_of(p_resident);
BEGIN
	IF pg_catalog.to_regclass('pg_temp.sanse_span_missed') IS NULL THEN
		CREATE TEMP TABLE sanse_span_missed (due timestamptz PRIMARY KEY, tier sanse.risk_tier, anchor timestamptz) ON COMMIT DROP;
		CREATE TEMP TABLE sanse_span_visit (id bigint PRIMARY KEY, window_due timestamptz, late boolean) ON COMMIT DROP;
	END IF;
	TRUNCATE sanse_span_missed, sanse_span_visit;

	-- walk the moments of the span: its visits (the first of each instant
	-- is the anchor), its tier changes, and its end
	FOR m IN
		SELECT x.at, x.visit_id, x.new_tier, x.is_visit
		  FROM (SELECT DISTINCT ON (v.at) v.at, v.id AS visit_id, NULL::sanse.risk_tier AS new_tier, true AS is_visit
		          FROM sanse.visit v
		         WHERE v.resident_id = p_resident AND v.at > p_from AND (p_to IS NULL OR v.at <= p_to)
		         ORDER BY v.at, v.id) x
		UNION ALL
		SELECT h.changed_at, NULL, h.new_tier, false
		  FROM sanse.tier_history h
		 WHERE h.resident_id = p_resident AND h.changed_at > p_from AND h.changed_at < until
		UNION ALL
		SELECT until, NULL, NULL, false WHERE p_to IS NULL
		ORDER BY 1, 4
	LOOP
		IF cur_tier IS NOT NULL THEN
			w := sanse.window_after(cur_tier, anchor);
			-- one missed period, one event: the first due time that passed
			-- after the anchor, whatever tier changes re-derive it to later
			IF sanse.due_at(w) <= m.at AND NOT anchor_missed THEN
				INSERT INTO sanse_span_missed VALUES (sanse.due_at(w), cur_tier, anchor) ON CONFLICT DO NOTHING;
				anchor_missed := true;
			END IF;
		END IF;
		IF m.is_visit THEN
			INSERT INTO sanse_span_visit VALUES (m.visit_id,
				CASE WHEN cur_tier IS NOT NULL AND w @> m.at THEN sanse.due_at(w) END,
				cur_tier IS NOT NULL AND m.at >= sanse.due_at(w));
			anchor := m.at;
			anchor_missed := false;
		ELSIF m.new_tier IS NOT NULL OR m.at < until THEN
			cur_tier := m.new_tier;
		END IF;
	END LOOP;

	-- events of the span that should not exist (a window met after all)
	DELETE FROM sanse.event e
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue'
	   AND e.due_at > p_from AND (p_to IS NULL OR e.due_at <= p_to)
	   AND NOT EXISTS (SELECT 1 FROM sanse_span_missed s WHERE s.due = e.due_at);
	-- those that stay keep the period they were missed in (cleared first, so
	-- that anchors moving from one event to another never meet)
	UPDATE sanse.event e SET anchor_at = NULL
	  FROM sanse_span_missed s
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = s.due
	   AND e.anchor_at IS DISTINCT FROM s.anchor;
	UPDATE sanse.event e SET anchor_at = s.anchor
	  FROM sanse_span_missed s
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = s.due
	   AND e.anchor_at IS NULL;
	-- and those that should
	FOR ev IN SELECT s.due, s.tier, s.anchor FROM sanse_span_missed s ORDER BY s.due LOOP
		PERFORM sanse.open_overdue_event(p_resident, ev.due, ev.tier, ev.anchor);
		SELECT v.id, v.at INTO closer FROM sanse.visit v
		 WHERE v.resident_id = p_resident AND v.at >= ev.due AND (p_to IS NULL OR v.at <= p_to)
		 ORDER BY v.at, v.id LIMIT 1;
		IF closer.id IS NOT NULL THEN
			IF NOT EXISTS (SELECT 1 FROM sanse.event e
			                WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due
			                  AND e.status = 'closed' AND e.visit_id = closer.id AND e.resolved_at = closer.at) THEN
				PERFORM sanse.replay_event(e.id, closer.at, closer.id)
				   FROM sanse.event e WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due;
			END IF;
		ELSE
			-- still open: reopened ones climb again up to now; the sweep goes on
			PERFORM sanse.replay_event(e.id, until, NULL)
			   FROM sanse.event e
			  WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due AND e.status = 'closed';
		END IF;
	END LOOP;

	-- visits: which window each met, which came late; windows met are
	-- credited to (and taken back from) the current carers
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met)
	SELECT c.worker_id, sanse.month_of(d.due), d.sign
	  FROM unnest(carers) c(worker_id), (SELECT v.window_due AS due, -1 AS sign FROM sanse.visit v JOIN sanse_span_visit s ON s.id = v.id
	         WHERE v.window_due IS DISTINCT FROM s.window_due AND v.window_due IS NOT NULL
	        UNION ALL
	        SELECT s.window_due, 1 FROM sanse.visit v JOIN sanse_span_visit s ON s.id = v.id
	         WHERE v.window_due IS DISTINCT FROM s.window_due AND s.window_due IS NOT NULL
	        UNION ALL
	        SELECT v.window_due, -1 FROM sanse.visit v
	         WHERE v.resident_id = p_resident AND v.window_due IS NOT NULL AND v.at > p_from
	           AND (p_to IS NULL OR v.at <= p_to)
	           AND NOT EXISTS (SELECT 1 FROM sanse_span_visit s WHERE s.id = v.id)) d;
	UPDATE sanse.visit v SET window_due = NULL
	 WHERE v.resident_id = p_resident AND v.window_due IS NOT NULL AND v.at > p_from
	   AND (p_to IS NULL OR v.at <= p_to)
	   AND v.window_due IS DISTINCT FROM (SELECT s.window_due FROM sanse_span_visit s WHERE s.id = v.id);
	UPDATE sanse.visit v SET window_due = s.window_due
	  FROM sanse_span_visit s
	 WHERE s.id = v.id AND s.window_due IS NOT NULL AND v.window_due IS DISTINCT FROM s.window_due;

	-- the late flag, and the flagged count of the visitor
	WITH changed AS (
		UPDATE sanse.visit v
		   SET flags = CASE WHEN s.late THEN array_append(v.flags, 'late') ELSE array_remove(v.flags, 'late') END
		  FROM sanse_span_visit s
		 WHERE s.id = v.id AND s.late <> ('late' = ANY (v.flags))
		RETURNING v.worker_id, v.at, v.flags, s.late)
	INSERT INTO sanse.worker_month_pending (worker_id, month, flagged_visits)
	SELECT c.worker_id, sanse.month_of(c.at), CASE WHEN c.late THEN 1 ELSE -1 END
	  FROM changed c
	 WHERE cardinality(c.flags) = CASE WHEN c.late THEN 1 ELSE 0 END;
END
$$;

-- Sanse's lock bound (75_sweeps.sql): check_in, the closed loop's functions
-- and the sweep give up a lock wait after 5 s with 55P03; the sweep gives up
-- only the phase, records the holder for sweep_status and audits it.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_act_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_act_check
	CHECK (act IN ('tier_override', 'rule_change', 'policy_change', 'grant_change',
	               'token_revocation', 'id_lookup', 'forget_resident', 'lock_timeout'));

CREATE OR REPLACE FUNCTION check_in(token text, worker_id bigint, at timestamptz DEFAULT now(),
                                    checklist text[] DEFAULT '{}', note text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'check_in' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, sanse SET lock_timeout = '5s';	-- sanse's lock bound (README)

CREATE TABLE sweep_lock_timeout (
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	phase text NOT NULL,
	holder_pid integer,
	holder name,
	relation text,
	mode text
);
CREATE INDEX sweep_lock_timeout_at ON sweep_lock_timeout (at);
REVOKE ALL ON sweep_lock_timeout FROM PUBLIC;
COMMENT ON TABLE sweep_lock_timeout IS 'each sweep phase that gave up waiting for a lock (lock_timeout): when, which phase, and the session that held it (login, pid, relation, mode)';

CREATE OR REPLACE FUNCTION lock_holders(OUT pid integer, OUT holder name, OUT relation text, OUT mode text)
RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT l.pid, a.usename, pg_catalog.format('%I.%I', 'sanse', c.relname), l.mode
	  FROM pg_catalog.pg_locks l
	  JOIN pg_catalog.pg_class c ON c.oid = l.relation
	  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
	 WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
	   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
	   AND c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = 'sanse')
	   AND c.relname <> 'sweep_lock'
	   AND (l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
	        OR (l.mode IN ('RowShareLock', 'RowExclusiveLock')
	            AND a.xact_start <= pg_catalog.clock_timestamp() - pg_catalog.current_setting('lock_timeout')::interval))
	 ORDER BY l.mode IN ('RowShareLock', 'RowExclusiveLock'), a.xact_start, l.pid, 3;
END;

REVOKE ALL ON FUNCTION lock_holders() FROM PUBLIC;
COMMENT ON FUNCTION lock_holders() IS 'sessions that may hold up sanse''s statements: locks on sanse''s tables in SHARE or stronger modes, then row-lock modes held longer than lock_timeout';

CREATE OR REPLACE FUNCTION sweep_gave_up(phase text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	h record;
	holders text;
BEGIN
	SELECT * INTO h FROM sanse.lock_holders() LIMIT 1;
	SELECT string_agg(format('%s (pid %s, %s on %s)', coalesce(x.holder::text, 'unknown login'), x.pid, x.mode, x.relation), '; ')
	  INTO holders FROM (SELECT * FROM sanse.lock_holders() LIMIT 5) x;
	INSERT INTO sanse.sweep_lock_timeout (phase, holder_pid, holder, relation, mode)
	VALUES (sweep_gave_up.phase, h.pid, h.holder, h.relation, h.mode);
	PERFORM sanse.audit('lock_timeout', '{}', NULL,
		format('sanse.sweep gave up %s after waiting %s for a lock held by %s', sweep_gave_up.phase,
		       pg_catalog.current_setting('lock_timeout'), coalesce(holders, 'a session that has let go since')));
	RAISE WARNING USING ERRCODE = '55P03',
		MESSAGE = format('sanse.sweep: %s gave up after waiting %s for a lock held by %s; left to the next sweep',
		                 sweep_gave_up.phase, pg_catalog.current_setting('lock_timeout'), coalesce(holders, 'a session that has let go since')),
		HINT = 'The holder is named in sanse.sweep_status and sanse.audit_log (act lock_timeout).';
END
$$;

REVOKE ALL ON FUNCTION sweep_gave_up(text) FROM PUBLIC;

CREATE OR REPLACE VIEW sweep_status AS
SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END AS sweeps_skipped,
       (SELECT l.pid FROM pg_catalog.pg_locks l
         WHERE l.locktype = 'relation' AND l.relation = 'sanse.sweep_lock'::regclass
           AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
           AND l.granted
         LIMIT 1) AS running_pid,
       (SELECT count(*) FROM sanse.sweep_lock_timeout) AS lock_timeouts,
       t.at AS last_lock_timeout_at, t.phase AS last_lock_phase, t.holder AS last_lock_holder,
       t.holder_pid AS last_lock_holder_pid, t.relation AS last_lock_relation, t.mode AS last_lock_mode
  FROM sanse.sweep_skipped s
  LEFT JOIN LATERAL (SELECT * FROM sanse.sweep_lock_timeout x ORDER BY x.at DESC LIMIT 1) t ON true;
COMMENT ON VIEW sweep_status IS 'sweeps skipped since install because another was running, the pid of the sweep running now, and how many sweep phases gave up waiting for a lock: the last one''s time, phase and holder (login, pid, table, mode)';


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

