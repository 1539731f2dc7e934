-----------------------------------------------------------------------------
-- Applying a batch
-----------------------------------------------------------------------------
-- apply_feed in named steps: each step is called only by apply_feed (as
-- its owner, in its transaction, after it has checked the caller and
-- locked the department's feed_state row) and works on the session's
-- work tables pg_temp.feed_allowed, feed_work and feed_changed (without
-- them a step refuses to run: 55000).

CREATE OR REPLACE FUNCTION feed_work_tables(department text, batch text, who name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	-- the session's work tables (emptied at commit), sanse's own: a table of
	-- the caller's under these names is refused, never written to
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
	            WHERE c.oid IN (pg_catalog.to_regclass('pg_temp.feed_allowed'), pg_catalog.to_regclass('pg_temp.feed_work'),
	                            pg_catalog.to_regclass('pg_temp.feed_changed'))
	              AND c.relowner <> (SELECT o.oid FROM pg_catalog.pg_roles o WHERE o.rolname = current_user)) THEN
		RAISE EXCEPTION 'the session has a temporary table feed_work, feed_allowed or feed_changed of its own'
			USING ERRCODE = '42P07', HINT = 'Drop it: apply_feed uses these names for its work.';
	END IF;
	-- made by an earlier version of sanse in this session: made again
	IF pg_catalog.to_regclass('pg_temp.feed_work') IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = pg_catalog.to_regclass('pg_temp.feed_work')
	                    AND a.attname = 'withheld' AND NOT a.attisdropped) THEN
		DROP TABLE pg_temp.feed_work, pg_temp.feed_changed;
	END IF;
	IF pg_catalog.to_regclass('pg_temp.feed_allowed') IS NULL THEN
		CREATE TEMP TABLE feed_allowed (area_id bigint PRIMARY KEY) ON COMMIT DELETE ROWS;
	END IF;
	-- no indexes on the two below: they are read whole, by hash joins
	IF pg_catalog.to_regclass('pg_temp.feed_changed') IS NULL THEN
		CREATE TEMP TABLE feed_changed (resident_id bigint, closing boolean) ON COMMIT DELETE ROWS;
	END IF;
	IF pg_catalog.to_regclass('pg_temp.feed_work') IS NULL THEN
		CREATE TEMP TABLE feed_work (line integer, h bytea, name text, factors text[], area_id bigint,
		                             resident_id bigint, other bigint, outcome text, reason text, withheld text,
		                             prev text[], same boolean) ON COMMIT DELETE ROWS;
	END IF;
	TRUNCATE pg_temp.feed_allowed, pg_temp.feed_changed, pg_temp.feed_work;
	INSERT INTO pg_temp.feed_allowed SELECT DISTINCT x FROM sanse.feed_areas(department, who) x;
	ANALYZE pg_temp.feed_allowed;
	-- a large batch just COPYed in: the planner is told (hash joins, not a
	-- probe a row), and what the department's last large apply left in
	-- factor_source (without it, a plan that loops over the work table once
	-- per source row of the department can take hours); only the columns the
	-- steps join and filter on
	IF (SELECT count(*) FROM (SELECT 1 FROM sanse.feed_inbox i WHERE i.department = department AND i.batch = batch LIMIT 10001) x) > 10000 THEN
		ANALYZE sanse.feed_inbox (department, batch, area_path, id_number_hash);
		ANALYZE sanse.factor_source (resident_id, source, until);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION feed_work_tables(text, text, name) FROM PUBLIC;
COMMENT ON FUNCTION feed_work_tables(text, text, name) IS 'apply_feed''s first step: the session''s work tables, emptied, with the areas the role may feed';

-- Each row's person, area, outcome and reason.  A person is looked for
-- among the residents of the areas the role may feed only: whether someone
-- with the number is registered elsewhere is not the loader's to know, so
-- such a row gets the answers an unknown person's row gets, except that it
-- cannot register them (the one answer that differs, see doc/feeds.md); the
-- data office reads what was withheld in feed_inbox.withheld and the audit.
CREATE OR REPLACE FUNCTION feed_classify_rows(department text, batch text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse
SET enable_mergejoin = off	-- the area_path join is estimated badly; a sort of the batch never pays
SET plan_cache_mode = force_custom_plan	-- planned for the batch at hand: a generic plan could rescan a department's sources a row
AS $$
#variable_conflict use_variable
DECLARE	-- large: as feed_work_tables counts it (and analyzed the tables)
	large boolean := (SELECT count(*) FROM (SELECT 1 FROM sanse.feed_inbox i WHERE i.department = department AND i.batch = batch LIMIT 10001) x) > 10000;
BEGIN
	IF pg_catalog.to_regclass('pg_temp.feed_work') IS NULL OR pg_catalog.to_regclass('pg_temp.feed_allowed') IS NULL
	   OR pg_catalog.to_regclass('pg_temp.feed_changed') IS NULL THEN
		RAISE EXCEPTION 'feed_classify_rows() is a step of sanse.apply_feed' USING ERRCODE = '55000', HINT = 'Call sanse.apply_feed.';
	END IF;
	-- every row with a well-formed number (a malformed one was rejected as
	-- stored), in one pass; prev is what the department asserts now about
	-- the person, same whether the row says just that
	INSERT INTO pg_temp.feed_work (line, h, name, factors, area_id, resident_id, other, outcome, reason, withheld, prev, same)
	SELECT x.line, nullif(x.h, CASE WHEN o.outcome <> 'registered' THEN x.h END),
	       CASE WHEN o.outcome = 'registered' THEN x.name END, CASE WHEN NOT o.same THEN x.factors END,
	       CASE WHEN o.outcome = 'registered' THEN x.area_id END, CASE WHEN x.seen_n > 0 THEN x.seen_id END, x.other_id,
	       o.outcome, v.why,
	       CASE WHEN x.other_id IS NOT NULL THEN 'a resident outside the areas this role may feed has this ID number' END,
	       CASE WHEN NOT o.same THEN x.prev END, o.same
	  FROM (SELECT i.line, i.id_number_hash AS h, i.name, i.left_programme AS leaving,
	               coalesce(i.factors, '{}') AS factors,
	               CASE WHEN NOT coalesce(i.factors, '{}') <@ sanse.factor_names()
	                    THEN (SELECT coalesce(min(f), 'NULL') FROM unnest(i.factors) f WHERE f IS NULL OR f <> ALL (sanse.factor_names()))
	               END AS bad_factor,
	               d.h IS NOT NULL AS twice,
	               nullif(btrim(i.area_path), '') IS NOT NULL AS has_area, a.id AS area_id, a.kind AS area_kind,
	               fa.area_id IS NOT NULL AS area_allowed,
	               m.seen_id, coalesce(m.seen_n, 0) AS seen_n, m.other_id, CASE WHEN large THEN p2.fs ELSE p1.fs END AS prev,
	               i.outcome AS old_outcome, i.resident_id AS old_resident, dd.event_id AS refuted_event
	          FROM sanse.feed_inbox i
	          LEFT JOIN sanse.area a ON a.path::text = btrim(i.area_path)
	          LEFT JOIN pg_temp.feed_allowed fa ON fa.area_id = a.id
	          LEFT JOIN (SELECT r.id_number_hash, min(r.id) FILTER (WHERE fr.area_id IS NOT NULL) AS seen_id,
	                            count(fr.area_id) AS seen_n, min(r.id) FILTER (WHERE fr.area_id IS NULL) AS other_id
	                       FROM sanse.resident r LEFT JOIN pg_temp.feed_allowed fr ON fr.area_id = r.area_id
	                      WHERE r.forgotten_at IS NULL
	                        AND r.id_number_hash IN (SELECT j.id_number_hash FROM sanse.feed_inbox j
	                                                  WHERE j.department = department AND j.batch = batch)
	                      GROUP BY r.id_number_hash) m ON m.id_number_hash = i.id_number_hash
	          -- what the department asserts about the person: a probe a person (small
	          -- batch), or one hashed pass over its open sources (large, analyzed)
	          LEFT JOIN LATERAL (SELECT array_agg(s.factor) AS fs FROM sanse.factor_source s
	                              WHERE NOT large AND s.resident_id = m.seen_id AND s.source = department AND s.until IS NULL) p1
	                 ON m.seen_n = 1
	          LEFT JOIN (SELECT s.resident_id, array_agg(s.factor) AS fs FROM sanse.factor_source s
	                      WHERE large AND s.source = department AND s.until IS NULL
	                      GROUP BY s.resident_id) p2
	                 ON large AND p2.resident_id = m.seen_id AND m.seen_n = 1
	          -- a departure of this department the leader answered "still here", not settled
	          LEFT JOIN sanse.feed_departure dd ON i.left_programme AND m.seen_n = 1 AND dd.resident_id = m.seen_id
	                                           AND dd.department = department AND dd.refuted_at IS NOT NULL AND dd.settled_at IS NULL
	          LEFT JOIN (SELECT j.id_number_hash AS h FROM sanse.feed_inbox j
	                      WHERE j.department = department AND j.batch = batch AND j.id_number_hash IS NOT NULL
	                      GROUP BY j.id_number_hash HAVING count(*) > 1) d ON d.h = i.id_number_hash
	         WHERE i.department = department AND i.batch = batch AND i.id_number_hash IS NOT NULL) x
	 CROSS JOIN LATERAL (
	       SELECT CASE WHEN x.twice THEN 'the same person is twice in this batch'
	                   WHEN x.bad_factor IS NOT NULL THEN format('unknown factor "%s"', left(x.bad_factor, 64))
	                   WHEN x.has_area AND x.area_id IS NULL THEN 'unknown area'
	                   WHEN x.has_area AND x.area_kind <> 'micro_grid' THEN 'the area is not a micro grid'
	                   WHEN x.seen_n > 1 OR (x.seen_n = 1 AND x.other_id IS NOT NULL) THEN 'several residents have this ID number'
	                   WHEN x.refuted_event IS NOT NULL
	                     THEN format('the micro-grid leader found this person still there (event %s): list them without left first', x.refuted_event)
	                   WHEN x.seen_n = 1 THEN NULL
	                   -- nobody of the role's areas: unknown, or registered elsewhere
	                   WHEN x.leaving THEN 'no resident of the areas this role may feed has this ID number to report left'
	                   WHEN NOT x.has_area THEN 'no resident of the areas this role may feed has this ID number, and the row names no area'
	                   WHEN NOT x.area_allowed THEN 'the area is outside the areas this role may feed'
	                   WHEN nullif(btrim(x.name), '') IS NULL THEN 'a person new to the areas this role may feed needs a name'
	                   WHEN x.other_id IS NOT NULL THEN 'not registered: the data office checks this row'
	              END AS why) v
	 -- (only what a later step reads is kept: the work table stays small)
	 CROSS JOIN LATERAL (
	       SELECT CASE WHEN v.why IS NOT NULL THEN 'rejected'
	                   WHEN x.seen_n = 0 THEN 'registered'
	                   WHEN x.leaving THEN 'left'
	                   WHEN x.old_outcome = 'registered' AND x.old_resident = x.seen_id THEN 'registered'
	                   ELSE 'matched' END AS outcome,
	              x.seen_n = 1 AND coalesce(x.prev, '{}') @> x.factors AND coalesce(x.prev, '{}') <@ x.factors AS same) o;
	ANALYZE pg_temp.feed_work (line, h, area_id, resident_id, other, outcome, same);
END
$$;
REVOKE ALL ON FUNCTION feed_classify_rows(text, text) FROM PUBLIC;
COMMENT ON FUNCTION feed_classify_rows(text, text) IS 'apply_feed''s second step: each row of the batch with its person, area, outcome and reason, and whether it changes what the department asserts, into pg_temp.feed_work';

CREATE OR REPLACE FUNCTION feed_apply_factors(department text, batch text, mode text, t timestamptz, label text, mark bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF pg_catalog.to_regclass('pg_temp.feed_work') IS NULL OR pg_catalog.to_regclass('pg_temp.feed_allowed') IS NULL
	   OR pg_catalog.to_regclass('pg_temp.feed_changed') IS NULL THEN
		RAISE EXCEPTION 'feed_apply_factors() is a step of sanse.apply_feed' USING ERRCODE = '55000', HINT = 'Call sanse.apply_feed.';
	END IF;
	-- registered: a resident of the micro grid, with the department's
	-- factors (classified on insert), in one statement with its sources
	-- (not run when nobody is new: an INSERT into resident runs its
	-- statement triggers even for no row)
	IF EXISTS (SELECT 1 FROM pg_temp.feed_work w WHERE w.outcome = 'registered' AND w.resident_id IS NULL) THEN
		WITH reg AS (
			INSERT INTO sanse.resident (area_id, name, factors, id_number_hash)
			SELECT w.area_id, btrim(w.name), ARRAY(SELECT DISTINCT f FROM unnest(w.factors) f ORDER BY f), w.h
			  FROM pg_temp.feed_work w WHERE w.outcome = 'registered' AND w.resident_id IS NULL
			RETURNING id, id_number_hash, factors
		), src AS (
			INSERT INTO sanse.factor_source (resident_id, factor, source, since, batch)
			SELECT reg.id, f, department, t, batch FROM reg, unnest(reg.factors) f
		)
		UPDATE pg_temp.feed_work w SET resident_id = reg.id, same = true FROM reg WHERE w.h = reg.id_number_hash;
	END IF;

	-- a row replaces that department's factors for that person; a row that
	-- says what the department asserts already (same) changes nothing
	WITH closed AS (
		UPDATE sanse.factor_source s SET until = t, until_batch = batch
		  FROM pg_temp.feed_work w
		 WHERE w.outcome IN ('matched', 'registered') AND NOT w.same AND s.resident_id = w.resident_id
		   AND s.source = department AND s.until IS NULL AND s.factor <> ALL (w.factors)
		RETURNING s.resident_id
	), opened AS (
		INSERT INTO sanse.factor_source (resident_id, factor, source, since, batch)
		SELECT DISTINCT w.resident_id, f, department, t, batch
		  FROM pg_temp.feed_work w, unnest(w.factors) f
		 WHERE w.outcome IN ('matched', 'registered') AND NOT w.same AND f <> ALL (coalesce(w.prev, '{}'))
		 ORDER BY 1, 2
		RETURNING resident_id
	), omitted AS (
		-- snapshot: what the department asserted before about a person of
		-- its areas this batch does not name is withdrawn (a rejected row
		-- naming a known person is not an omission)
		-- (hashed subplans whatever the estimates, which for factor_source
		-- may be stale after a large apply: never a loop over a whole table)
		UPDATE sanse.factor_source s SET until = t, until_batch = batch
		  FROM sanse.resident r
		 WHERE mode = 'snapshot' AND s.source = department AND s.until IS NULL AND r.id = s.resident_id
		   AND s.resident_id NOT IN (SELECT w.resident_id FROM pg_temp.feed_work w WHERE w.resident_id IS NOT NULL)
		   AND r.area_id IN (SELECT f.area_id FROM pg_temp.feed_allowed f OFFSET 0)
		RETURNING s.resident_id
	)
	INSERT INTO pg_temp.feed_changed (resident_id, closing)
	SELECT c.resident_id, bool_or(c.closing)
	  FROM (SELECT resident_id, true AS closing FROM closed UNION ALL SELECT resident_id, false FROM opened
	        UNION ALL SELECT resident_id, true FROM omitted) c
	 GROUP BY c.resident_id;
	ANALYZE pg_temp.feed_changed;
	PERFORM sanse.feed_resident_factors(t, label, mark);
END
$$;
REVOKE ALL ON FUNCTION feed_apply_factors(text, text, text, timestamptz, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION feed_apply_factors(text, text, text, timestamptz, text, bigint) IS 'apply_feed''s third step: registers the unknown, replaces the department''s factors where a row changes them (snapshot: withdraws the omitted)';

CREATE OR REPLACE FUNCTION feed_resident_factors(t timestamptz, label text, mark bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF pg_catalog.to_regclass('pg_temp.feed_work') IS NULL OR pg_catalog.to_regclass('pg_temp.feed_changed') IS NULL THEN
		RAISE EXCEPTION 'feed_resident_factors() is a step of sanse.apply_feed' USING ERRCODE = '55000', HINT = 'Call sanse.apply_feed.';
	END IF;
	-- the residents' factors are the union of their open sources (those they
	-- have stay in their order, new ones follow by name): the change
	-- reclassifies at once (resident_20_maintain).  Where a source closed,
	-- the union is taken again; where sources only opened, the row's factors
	-- the resident lacks are added.
	UPDATE sanse.resident r
	   SET factors = ARRAY(SELECT c.f FROM unnest(r.factors) WITH ORDINALITY c(f, o) WHERE c.f = ANY (u.fs) ORDER BY c.o)
	              || ARRAY(SELECT f FROM unnest(u.fs) f WHERE f <> ALL (r.factors) ORDER BY f)
	  FROM (SELECT c.resident_id, coalesce(array_agg(DISTINCT s.factor) FILTER (WHERE s.factor IS NOT NULL), '{}') AS fs
	          FROM pg_temp.feed_changed c
	          LEFT JOIN sanse.factor_source s ON s.resident_id = c.resident_id AND s.until IS NULL
	         WHERE c.closing
	         GROUP BY c.resident_id) u
	 WHERE r.id = u.resident_id AND r.forgotten_at IS NULL AND NOT (r.factors @> u.fs AND r.factors <@ u.fs);
	UPDATE sanse.resident r
	   SET factors = r.factors || ARRAY(SELECT DISTINCT f FROM unnest(w.factors) f WHERE f <> ALL (r.factors) ORDER BY f)
	  FROM pg_temp.feed_changed c JOIN pg_temp.feed_work w ON w.resident_id = c.resident_id AND w.outcome IN ('matched', 'registered')
	 WHERE NOT c.closing AND r.id = c.resident_id AND r.forgotten_at IS NULL AND NOT r.factors @> w.factors;
	UPDATE sanse.tier_history h SET reason = label
	 WHERE h.id > mark AND h.changed_at = t AND h.reason IS NULL
	   AND (h.resident_id IN (SELECT c.resident_id FROM pg_temp.feed_changed c)
	        OR h.resident_id IN (SELECT w.resident_id FROM pg_temp.feed_work w WHERE w.outcome = 'registered'));
END
$$;
REVOKE ALL ON FUNCTION feed_resident_factors(timestamptz, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION feed_resident_factors(timestamptz, text, bigint) IS 'apply_feed''s third step, continued: the residents'' factors become the union of their open sources, and the tier history names the feed';

CREATE OR REPLACE FUNCTION feed_report_departures(department text, batch text, t timestamptz, label text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	rec record;
	ev bigint;
BEGIN
	IF pg_catalog.to_regclass('pg_temp.feed_work') IS NULL OR pg_catalog.to_regclass('pg_temp.feed_allowed') IS NULL
	   OR pg_catalog.to_regclass('pg_temp.feed_changed') IS NULL THEN
		RAISE EXCEPTION 'feed_report_departures() is a step of sanse.apply_feed' USING ERRCODE = '55000', HINT = 'Call sanse.apply_feed.';
	END IF;
	-- left: the micro-grid leader confirms it at the door (a closed-loop
	-- task); until then everything stays as it was
	FOR rec IN SELECT w.resident_id, r.area_id, r.tier
	             FROM pg_temp.feed_work w JOIN sanse.resident r ON r.id = w.resident_id
	            WHERE w.outcome = 'left' AND r.active
	              AND NOT EXISTS (SELECT 1 FROM sanse.feed_departure d
	                               WHERE d.resident_id = w.resident_id AND d.department = department
	                                 AND d.confirmed_at IS NULL AND d.settled_at IS NULL)
	            ORDER BY w.line LOOP
		ev := sanse.call_event('task', rec.resident_id, rec.area_id, rec.tier,
		                       format('%s reports that this person died or moved away (%s): confirm it at the door; closing this task ends the care, sanse.still_here answers that the person is still there',
		                              department, label),
		                       'grid', t, NULL, NULL, NULL);
		IF ev IS NOT NULL THEN
			INSERT INTO sanse.feed_departure (event_id, resident_id, department, batch, reported_at)
			VALUES (ev, rec.resident_id, department, batch, t);
		END IF;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION feed_report_departures(text, text, timestamptz, text) FROM PUBLIC;
COMMENT ON FUNCTION feed_report_departures(text, text, timestamptz, text) IS 'apply_feed''s fourth step: a closed-loop task (and a feed_departure row) for each person reported left';

CREATE OR REPLACE FUNCTION apply_feed(department text, batch text, mode text DEFAULT 'snapshot')
RETURNS TABLE (outcome text, n bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse
SET jit = off	-- a batch's statements are costed far above jit_above_cost: compiling them took longer than running them
AS $$
#variable_conflict use_variable
DECLARE
	who name := sanse.acting_role();
	t timestamptz := now();
	mark bigint;
	label text;
	c_matched bigint;
	c_registered bigint;
	c_left bigint;
	c_rejected bigint;
BEGIN
	IF mode IS NULL OR mode NOT IN ('snapshot', 'delta') THEN
		RAISE EXCEPTION 'unknown feed mode "%"', coalesce(mode, 'NULL')
			USING ERRCODE = '22023', HINT = 'A batch is applied as a snapshot (the department''s whole list) or a delta (only its rows change).';
	END IF;
	IF department IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.department d WHERE d.code = department) THEN
		RAISE EXCEPTION 'unknown department "%"', coalesce(department, 'NULL')
			USING ERRCODE = '22023', HINT = 'Departments are the rows of sanse.department.';
	END IF;
	IF NOT sanse.may_load_feed(department, who) THEN
		RAISE EXCEPTION 'role "%" may not apply feeds of department "%"', who, department
			USING ERRCODE = '42501', HINT = 'A row of sanse.feed_grant names the roles that load a department''s feed.';
	END IF;
	IF batch IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.feed_inbox i WHERE i.department = department AND i.batch = batch) THEN
		RAISE EXCEPTION 'department "%" has no batch "%"', department, coalesce(batch, 'NULL')
			USING ERRCODE = '22023', HINT = 'Load the batch''s rows into sanse.feed_inbox first.';
	END IF;
	-- one apply of a department at a time: the second waits for the first to
	-- commit (READ COMMITTED), or fails with 40001 (REPEATABLE READ and above)
	INSERT INTO sanse.feed_state AS s (department, batch, mode, applied_at, applied_by)
	VALUES (department, batch, mode, t, who)
	ON CONFLICT ON CONSTRAINT feed_state_pkey
	DO UPDATE SET batch = EXCLUDED.batch, mode = EXCLUDED.mode, applied_at = EXCLUDED.applied_at, applied_by = EXCLUDED.applied_by;
	label := format('feed %s, batch %s', department, batch);
	mark := coalesce((SELECT max(h.id) FROM sanse.tier_history h), 0);

	PERFORM sanse.feed_work_tables(department, batch, who);
	PERFORM sanse.feed_classify_rows(department, batch);
	PERFORM sanse.feed_apply_factors(department, batch, mode, t, label, mark);
	PERFORM sanse.feed_report_departures(department, batch, t, label);
	PERFORM sanse.feed_settle_departures(department, batch, mode, t);

	-- outcomes on the rows (only where they changed: a second apply writes nothing)
	UPDATE sanse.feed_inbox i
	   SET outcome = w.outcome, reason = w.reason, resident_id = coalesce(w.resident_id, w.other), withheld = w.withheld
	  FROM pg_temp.feed_work w
	 WHERE i.department = department AND i.batch = batch AND i.line = w.line
	   AND (i.outcome, i.reason, i.resident_id, i.withheld)
	       IS DISTINCT FROM (w.outcome, w.reason, coalesce(w.resident_id, w.other), w.withheld);

	SELECT count(*) FILTER (WHERE i.outcome = 'matched'), count(*) FILTER (WHERE i.outcome = 'registered'),
	       count(*) FILTER (WHERE i.outcome = 'left'), count(*) FILTER (WHERE i.outcome = 'rejected')
	  INTO c_matched, c_registered, c_left, c_rejected
	  FROM sanse.feed_inbox i WHERE i.department = department AND i.batch = batch;
	-- the residents outside the role's areas its rows named (withheld from it)
	PERFORM sanse.audit('feed_apply', ARRAY(SELECT DISTINCT w.other FROM pg_temp.feed_work w WHERE w.other IS NOT NULL ORDER BY 1),
	                    'applying a department''s feed',
	                    format('department %s, batch %s, mode %s: matched %s, registered %s, left %s, rejected %s',
	                           department, batch, mode, c_matched, c_registered, c_left, c_rejected));
	RETURN QUERY VALUES ('matched', c_matched), ('registered', c_registered), ('left', c_left), ('rejected', c_rejected);
END
$$;
REVOKE ALL ON FUNCTION apply_feed(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION apply_feed(text, text, text) IS 'apply a department''s batch from sanse.feed_inbox (snapshot: its whole list; delta: only its rows); sets each row''s outcome; returns the count of each outcome; audited';

-- Closing a departure's task confirms it: the care ends (the resident is no
-- longer active) and so do the department's assertions.
CREATE OR REPLACE FUNCTION feed_departure_confirm() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	d sanse.feed_departure;
	mark bigint := coalesce((SELECT max(h.id) FROM sanse.tier_history h), 0);
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.event'::regclass THEN
		RAISE EXCEPTION 'trigger function feed_departure_confirm() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.event.';
	END IF;
	UPDATE sanse.feed_departure x SET confirmed_at = NEW.resolved_at
	 WHERE x.event_id = NEW.id AND x.confirmed_at IS NULL AND x.refuted_at IS NULL
	RETURNING * INTO d;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	UPDATE sanse.factor_source s SET until = now(), until_batch = d.batch
	 WHERE s.resident_id = d.resident_id AND s.source = d.department AND s.until IS NULL;
	UPDATE sanse.resident r SET factors = sanse.factor_union(r.id, r.factors), active = false
	 WHERE r.id = d.resident_id AND r.forgotten_at IS NULL;
	PERFORM sanse.feed_history_reason(mark, ARRAY[d.resident_id],
	                                  format('feed %s, batch %s: departure confirmed (event %s)', d.department, d.batch, NEW.id));
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION feed_departure_confirm() FROM PUBLIC;
