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
-- in 65_check_in.sql).  A resident left with more than one open overdue event
-- by a re-derived window keeps the first one opened; the others go, and the
-- tally takes each back from the carers it was charged to.
DELETE FROM event e
 WHERE e.kind = 'overdue' AND e.status = 'open'
   AND EXISTS (SELECT 1 FROM event f
                WHERE f.resident_id = e.resident_id AND f.kind = 'overdue' AND f.status = 'open' AND f.id < e.id)
   AND NOT EXISTS (SELECT 1 FROM event c WHERE c.parent_id = e.id);
-- (an overdue event is never a parent; were one, it is closed instead)
UPDATE event e SET status = 'closed', resolved_at = now(), next_step_at = NULL
 WHERE e.kind = 'overdue' AND e.status = 'open'
   AND EXISTS (SELECT 1 FROM event f
                WHERE f.resident_id = e.resident_id AND f.kind = 'overdue' AND f.status = 'open' AND f.id < e.id);
CREATE UNIQUE INDEX event_overdue_open_once ON event (resident_id) WHERE kind = 'overdue' AND status = 'open';

CREATE OR REPLACE FUNCTION open_overdue_events(p_residents bigint[], p_dues timestamptz[], p_tiers risk_tier[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	WITH created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at, charged_to)
		SELECT r.id, r.area_id, m.tier, 1, sanse.leader_for(r.area_id, 1), m.due, m.due,
		       sanse.zone_add(m.due, p.escalate_after), sanse.carers_of(r.id)
		  FROM unnest(p_residents, p_dues, p_tiers) m(resident_id, due, tier)
		  JOIN sanse.resident r ON r.id = m.resident_id
		  JOIN sanse.tier_policy p ON p.tier = m.tier
		-- either unique index of overdue events: event_overdue_once or
		-- event_overdue_open_once
		ON CONFLICT DO NOTHING
		RETURNING id, assignee_id, level_since)
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT id, 1, assignee_id, level_since FROM created;
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
BEGIN
	PERFORM sanse.check_sweep_time(at);
	-- Lock the due residents (a check-in holding one makes us wait and
	-- re-check its new window) and open the event of each missed window once,
	-- unless the resident's missed period has its open event already (a
	-- window re-derived after it was missed: one missed period, one event).
	SELECT array_agg(d.id), array_agg(d.due), array_agg(d.tier) INTO ids, dues, tiers
	  FROM (SELECT r.id, r.tier, sanse.due_at(r.next_visit) AS due
	          FROM sanse.resident r
	         WHERE r.active AND r.next_visit IS NOT NULL
	           AND sanse.due_at(r.next_visit) <= sweep_overdue.at
	           FOR NO KEY UPDATE OF r) d
	 WHERE NOT EXISTS (SELECT 1 FROM sanse.event e
	                    WHERE e.resident_id = d.id AND e.kind = 'overdue'
	                      AND (e.due_at = d.due OR e.status = 'open'));
	IF ids IS NULL THEN
		RETURN 0;
	END IF;
	RETURN sanse.open_overdue_events(ids, dues, tiers);
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
		CREATE TEMP TABLE sanse_span_missed (due timestamptz PRIMARY KEY, tier sanse.risk_tier) ON COMMIT DROP;
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
				INSERT INTO sanse_span_missed VALUES (sanse.due_at(w), cur_tier) ON CONFLICT DO NOTHING;
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
	-- and those that should
	FOR ev IN SELECT s.due, s.tier FROM sanse_span_missed s ORDER BY s.due LOOP
		PERFORM sanse.open_overdue_event(p_resident, ev.due, ev.tier);
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

