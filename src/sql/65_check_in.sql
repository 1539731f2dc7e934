-- Called by check_in for a visit that moves the resident's anchor.  The
-- outcome must not depend on when sweeps ran, so:
--  * a window the visit came too late for gets its event if no sweep made it;
--  * an open event whose due time is after the visit (an on-time visit that
--    reached the server after a sweep) never should have existed: removed;
--  * every other open event closes at the level its schedule had reached at
--    the visit's time, and steps a sweep dated after the visit are removed.
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

-- check_in appends its visit to worker_month_pending in the same statement
-- that stores it (visits are written by check_in only).
CREATE OR REPLACE FUNCTION check_in(token text, worker_id bigint, at timestamptz DEFAULT now(),
                                    checklist text[] DEFAULT '{}', note text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'check_in_1_4' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, sanse SET lock_timeout = '5s';	-- sanse's lock bound (README)
COMMENT ON FUNCTION check_in(text, bigint, timestamptz, text[], text) IS
	'record a door check-in; returns the visit id (the same id for a retried scan)';

-- Re-derive the span of a resident's timeline that starts at anchor p_from
-- (a visit time, or registered_at) and ends at the visit time p_to (NULL:
-- the span is still open, up to now): the visits strictly inside are its
-- anchors.  Events due inside the span are made to be exactly the windows
-- missed in it, each closed by the first visit at or after its due time; the
-- visits' window_due and late flag follow; the tally takes the differences.
-- Three steps on two work tables of the transaction: what the span should
-- be (sanse_span_missed, sanse_span_visit), then its events, then its visits.
CREATE OR REPLACE FUNCTION rederive_span(p_resident bigint, p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF pg_catalog.to_regclass('pg_temp.sanse_span_missed') IS NULL THEN
		CREATE TEMP TABLE sanse_span_missed (due timestamptz PRIMARY KEY, tier sanse.risk_tier, anchor timestamptz) ON COMMIT DROP;
		CREATE TEMP TABLE sanse_span_visit (id bigint PRIMARY KEY, window_due timestamptz, late boolean) ON COMMIT DROP;
	END IF;
	TRUNCATE sanse_span_missed, sanse_span_visit;
	PERFORM sanse.rederive_span_walk(p_resident, p_from, p_to);
	PERFORM sanse.rederive_span_events(p_resident, p_from, p_to);
	PERFORM sanse.rederive_span_visits(p_resident, p_from, p_to);
END
$$;

-- The work tables of rederive_span, which its steps need: 55000 when a step
-- runs on its own.
CREATE OR REPLACE FUNCTION rederive_span_require() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF pg_catalog.to_regclass('pg_temp.sanse_span_missed') IS NULL OR pg_catalog.to_regclass('pg_temp.sanse_span_visit') IS NULL THEN
		RAISE EXCEPTION 'no span to re-derive in this session' USING ERRCODE = '55000',
			HINT = 'sanse.rederive_span() makes it.';
	END IF;
END
$$;

-- Step 1 of rederive_span: walk the moments of the span -- its visits (the
-- first of each instant is the anchor), its tier changes, and its end --
-- and note the windows missed (sanse_span_missed) and, per visit, the
-- window it met and whether it came late (sanse_span_visit).
CREATE OR REPLACE FUNCTION rederive_span_walk(p_resident bigint, p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	until timestamptz := coalesce(p_to, now());
	anchor timestamptz := p_from;
	anchor_missed boolean := false;	-- the anchor's period has its missed window
	cur_tier sanse.risk_tier := sanse.tier_at(p_resident, p_from);
	w sanse.visit_window;
	m record;
BEGIN
	PERFORM sanse.rederive_span_require();
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
END
$$;

-- Step 2: the span's overdue events become exactly its missed windows.
CREATE OR REPLACE FUNCTION rederive_span_events(p_resident bigint, p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	until timestamptz := coalesce(p_to, now());
	ev record;
	closer record;
BEGIN
	PERFORM sanse.rederive_span_require();
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
END
$$;

-- Step 3: the visits' window_due and late flag, and the tally's differences.
CREATE OR REPLACE FUNCTION rederive_span_visits(p_resident bigint, p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	carers bigint[] := sanse.carers_of(p_resident);
BEGIN
	PERFORM sanse.rederive_span_require();
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

-- check_in, for a visit dated before the resident's latest one.
CREATE OR REPLACE FUNCTION rederive_after_visit(p_resident bigint, p_visit bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	t timestamptz := (SELECT v.at FROM sanse.visit v WHERE v.id = p_visit);
BEGIN
	-- another visit at the same instant is the anchor already: nothing moves
	IF EXISTS (SELECT 1 FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at = t AND v.id <> p_visit) THEN
		RETURN;
	END IF;
	PERFORM sanse.rederive_span(p_resident,
		coalesce((SELECT max(v.at) FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at < t),
		         (SELECT r.registered_at FROM sanse.resident r WHERE r.id = p_resident)),
		(SELECT min(v.at) FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at > t));
END
$$;

CREATE OR REPLACE FUNCTION withdraw_visit(visit_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	v sanse.visit;
	twin bigint;
	prev timestamptz;
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'withdrawing a visit needs a reason' USING ERRCODE = '22023';
	END IF;
	PERFORM sanse.check_free_text(reason, 'reason');
	SELECT * INTO v FROM sanse.visit WHERE id = withdraw_visit.visit_id AND sanse.caller_sees(area_id, 'care');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'visit % does not exist', withdraw_visit.visit_id USING ERRCODE = '22023';
	END IF;
	-- the resident's check-ins wait while its timeline is re-derived
	PERFORM 1 FROM sanse.resident r WHERE r.id = v.resident_id FOR NO KEY UPDATE;
	-- forgotten meanwhile: nothing more is written about them
	IF (SELECT r.forgotten_at FROM sanse.resident r WHERE r.id = v.resident_id) IS NOT NULL THEN
		RAISE EXCEPTION 'the resident of visit % has been forgotten', withdraw_visit.visit_id
			USING ERRCODE = '55000', DETAIL = 'Nothing more is written about a forgotten resident.';
	END IF;
	INSERT INTO sanse.visit_withdrawn (visit_id, resident_id, worker_id, at, checklist, flags, note, recorded_at, reason)
	VALUES (v.id, v.resident_id, v.worker_id, v.at, v.checklist, v.flags, v.note, v.recorded_at, withdraw_visit.reason);
	-- the visitor's own counts
	INSERT INTO sanse.worker_month_pending (worker_id, month, visits, flagged_visits, checklist_items)
	VALUES (v.worker_id, sanse.month_of(v.at), -1, -(v.flags <> '{}')::int, -cardinality(v.checklist));

	SELECT t.id INTO twin FROM sanse.visit t
	 WHERE t.resident_id = v.resident_id AND t.at = v.at AND t.id <> v.id ORDER BY t.id LIMIT 1;
	IF twin IS NOT NULL THEN
		-- another visit at the same instant takes its place
		UPDATE sanse.event SET visit_id = twin, closed_by = (SELECT t.worker_id FROM sanse.visit t WHERE t.id = twin)
		 WHERE event.visit_id = v.id;
		UPDATE sanse.visit SET window_due = NULL WHERE id = v.id;
		UPDATE sanse.visit SET window_due = v.window_due, flags = v.flags WHERE id = twin AND v.window_due IS NOT NULL;
		DELETE FROM sanse.visit WHERE id = v.id;
		RETURN;
	END IF;

	IF v.window_due IS NOT NULL THEN
		INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met)
		SELECT c.worker_id, sanse.month_of(v.window_due), -1 FROM unnest(sanse.carers_of(v.resident_id)) c(worker_id);
	END IF;
	UPDATE sanse.event SET visit_id = NULL WHERE event.visit_id = v.id;
	DELETE FROM sanse.visit WHERE id = v.id;
	prev := (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = v.resident_id AND x.at < v.at);
	-- the anchor goes back when the latest visit is withdrawn (the owner may write it)
	UPDATE sanse.resident r SET last_visit_at = (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = r.id)
	 WHERE r.id = v.resident_id AND r.last_visit_at IS DISTINCT FROM (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = r.id);
	PERFORM sanse.rederive_span(v.resident_id,
		coalesce(prev, (SELECT r.registered_at FROM sanse.resident r WHERE r.id = v.resident_id)),
		(SELECT min(x.at) FROM sanse.visit x WHERE x.resident_id = v.resident_id AND x.at > v.at));
END
$$;
REVOKE ALL ON FUNCTION withdraw_visit(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION withdraw_visit(bigint, text) IS 'withdraw a wrongly recorded visit (kept in visit_withdrawn with the reason): the resident''s windows, events and tally are re-derived without it';
REVOKE ALL ON FUNCTION rederive_span(bigint, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rederive_span_require() FROM PUBLIC;
REVOKE ALL ON FUNCTION rederive_span_walk(bigint, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rederive_span_events(bigint, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rederive_span_visits(bigint, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION rederive_after_visit(bigint, bigint) FROM PUBLIC;
