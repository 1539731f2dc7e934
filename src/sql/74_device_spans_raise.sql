-----------------------------------------------------------------------------
-- Raising the spans of a sweep, set-based (spec 10: the sweep costs in
-- proportion to the devices due).  The spans come as three arrays (device,
-- rule, end), locked by the caller; each step is one statement over all of
-- them, so a sweep with 2,600 devices due runs a handful of statements, not
-- a dozen per span.  The result is the one the span-by-span order (by end,
-- device, rule) gives: a span counts on the warning (task) of its key open
-- at its end (device_span_open_event), a non-closed one first; the first
-- span of a key that has none raises it, and the later spans of that key
-- count on it.  A key is the resident and device kind of a quiet device
-- with a resident, else the device (and the rule).
-----------------------------------------------------------------------------

-- Spans of an inactive device or a forgotten resident are dropped (nothing
-- is raised about them); the residents of the others are locked FOR SHARE,
-- as raise_event does (a forgetting waits for the warning, or it for the
-- forgetting).
CREATE OR REPLACE FUNCTION device_spans_drop(p_devices bigint[], p_rules text[], p_ends timestamptz[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM 1 FROM sanse.resident r
	 WHERE r.id IN (SELECT d.resident_id FROM sanse.device d WHERE d.id = ANY (p_devices))
	 ORDER BY r.id FOR SHARE OF r;
	DELETE FROM sanse.device_span x
	 USING unnest(p_devices, p_rules, p_ends) s(device_id, rule, ends_at), sanse.device d
	  LEFT JOIN sanse.resident r ON r.id = d.resident_id
	 WHERE x.device_id = s.device_id AND x.rule = s.rule AND x.ends_at = s.ends_at AND d.id = s.device_id
	   AND x.event_id IS NULL AND x.disproved_at IS NULL
	   AND (NOT d.active OR r.forgotten_at IS NOT NULL);
END
$$;
REVOKE ALL ON FUNCTION device_spans_drop(bigint[], text[], timestamptz[]) FROM PUBLIC;

-- Spans a reading that came since they were recorded disproves (a reading,
-- with value > 0 for quiet, inside the span): marked disproved_at, and the
-- spans after that reading recorded anew (for the next pass).  Returns how
-- many.
CREATE OR REPLACE FUNCTION device_spans_late(p_devices bigint[], p_rules text[], p_ends timestamptz[], p_at timestamptz)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	s record;
	n int := 0;
BEGIN
	FOR s IN UPDATE sanse.device_span x SET disproved_at = p_at
	           FROM sanse.device d
	          CROSS JOIN unnest(p_devices, p_rules, p_ends) u(device_id, rule, ends_at)
	          CROSS JOIN LATERAL (SELECT max(y.at) AS at FROM sanse.reading y
	                               WHERE y.device_id = u.device_id AND y.at < u.ends_at
	                                 AND y.at > (SELECT z.span_from FROM sanse.device_span z
	                                              WHERE z.device_id = u.device_id AND z.rule = u.rule AND z.ends_at = u.ends_at)
	                                 AND (u.rule = 'silent' OR y.value > 0)) m
	          WHERE x.device_id = u.device_id AND x.rule = u.rule AND x.ends_at = u.ends_at AND d.id = u.device_id
	            AND x.event_id IS NULL AND x.disproved_at IS NULL AND m.at IS NOT NULL
	         RETURNING x.device_id, x.rule, m.at AS late,
	                   CASE x.rule WHEN 'quiet' THEN d.quiet_for ELSE d.silent_for END AS span,
	                   greatest(m.at, CASE x.rule WHEN 'quiet' THEN d.last_active_at ELSE d.last_reading_at END) AS last LOOP
		PERFORM sanse.device_find_spans(s.device_id, s.rule, s.span, s.late, s.last);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION device_spans_late(bigint[], text[], timestamptz[], timestamptz) FROM PUBLIC;

-- The spans still waiting whose key has a warning (task) open now, not
-- closed: each counted on it (event.repeats), in one UPDATE of the spans
-- and one of the events.
CREATE OR REPLACE FUNCTION device_spans_count_open(p_devices bigint[], p_rules text[], p_ends timestamptz[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	WITH open AS (
		SELECT x.device_id, x.rule, x.ends_at, e.id AS event_id
		  FROM unnest(p_devices, p_rules, p_ends) u(device_id, rule, ends_at)
		  JOIN sanse.device_span x ON x.device_id = u.device_id AND x.rule = u.rule AND x.ends_at = u.ends_at
		  JOIN sanse.device d ON d.id = u.device_id
		  JOIN sanse.event e ON e.id = sanse.device_span_open_event(d, u.rule, u.ends_at)
		 WHERE x.event_id IS NULL AND x.disproved_at IS NULL AND e.status <> 'closed'),
	counted AS (
		UPDATE sanse.device_span x SET event_id = o.event_id, repeat = true
		  FROM open o
		 WHERE x.device_id = o.device_id AND x.rule = o.rule AND x.ends_at = o.ends_at
		RETURNING x.event_id)
	UPDATE sanse.event e SET repeats = e.repeats + c.n
	  FROM (SELECT c.event_id, count(*) AS n FROM counted c GROUP BY c.event_id) c
	 WHERE e.id = c.event_id;
END
$$;
REVOKE ALL ON FUNCTION device_spans_count_open(bigint[], text[], timestamptz[]) FROM PUBLIC;

-- The spans still waiting (their key has nothing open now) that a closed
-- warning (task) covered at their end (called by then, closed after it),
-- as long as every earlier span of their key is covered too: counted on it.
-- (The first span of a key without one raises its own, and the spans after
-- it count on that.)
CREATE OR REPLACE FUNCTION device_spans_count_covered(p_devices bigint[], p_rules text[], p_ends timestamptz[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	WITH waiting AS (
		SELECT x.device_id, x.rule, x.ends_at, sanse.device_span_open_event(d, u.rule, u.ends_at) AS event_id,
		       CASE WHEN u.rule = 'quiet' AND d.resident_id IS NOT NULL THEN ROW(d.resident_id, d.kind)::text
		            ELSE ROW(d.id, u.rule)::text END AS key
		  FROM unnest(p_devices, p_rules, p_ends) u(device_id, rule, ends_at)
		  JOIN sanse.device_span x ON x.device_id = u.device_id AND x.rule = u.rule AND x.ends_at = u.ends_at
		  JOIN sanse.device d ON d.id = u.device_id
		 WHERE x.event_id IS NULL AND x.disproved_at IS NULL),
	covered AS (
		SELECT w.*, bool_and(w.event_id IS NOT NULL) OVER (PARTITION BY w.rule, w.key ORDER BY w.ends_at, w.device_id
		                                                   ROWS UNBOUNDED PRECEDING) AS all_covered
		  FROM waiting w),
	counted AS (
		UPDATE sanse.device_span x SET event_id = c.event_id, repeat = true
		  FROM covered c
		 WHERE c.all_covered AND x.device_id = c.device_id AND x.rule = c.rule AND x.ends_at = c.ends_at
		RETURNING x.event_id)
	UPDATE sanse.event e SET repeats = e.repeats + c.n
	  FROM (SELECT c.event_id, count(*) AS n FROM counted c GROUP BY c.event_id) c
	 WHERE e.id = c.event_id;
END
$$;
REVOKE ALL ON FUNCTION device_spans_count_covered(bigint[], text[], timestamptz[]) FROM PUBLIC;

-- The first span still waiting of each key raises its quiet warning (its
-- arrival clock from the span's end) or silent task naming the device and
-- its resident, called at the span's end at level 1 (the micro-grid
-- leader), as call_event builds a loop event: the event, its first step
-- and its transition 'called', for all keys in one statement.
CREATE OR REPLACE FUNCTION device_spans_create(p_devices bigint[], p_rules text[], p_ends timestamptz[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	WITH first AS (
		SELECT DISTINCT ON (u.rule, CASE WHEN u.rule = 'quiet' AND d.resident_id IS NOT NULL THEN ROW(d.resident_id, d.kind)::text
		                                 ELSE ROW(d.id, u.rule)::text END)
		       d.id AS device_id, d.kind AS device_kind, d.resident_id, coalesce(r.area_id, d.area_id) AS area_id, r.tier,
		       u.rule, u.ends_at, x.span_from, CASE u.rule WHEN 'quiet' THEN 'warning' ELSE 'task' END AS kind,
		       format('%s: device %s (%s) %s since %s', u.rule, d.id, d.kind,
		              CASE u.rule WHEN 'quiet' THEN 'used nothing' ELSE 'sent nothing' END,
		              to_char(x.span_from AT TIME ZONE sanse.current_zone(), 'YYYY-MM-DD HH24:MI:SS')) AS detail
		  FROM unnest(p_devices, p_rules, p_ends) u(device_id, rule, ends_at)
		  JOIN sanse.device_span x ON x.device_id = u.device_id AND x.rule = u.rule AND x.ends_at = u.ends_at
		  JOIN sanse.device d ON d.id = u.device_id
		  LEFT JOIN sanse.resident r ON r.id = d.resident_id
		 WHERE x.event_id IS NULL AND x.disproved_at IS NULL
		 ORDER BY u.rule, CASE WHEN u.rule = 'quiet' AND d.resident_id IS NOT NULL THEN ROW(d.resident_id, d.kind)::text
		                       ELSE ROW(d.id, u.rule)::text END, u.ends_at, u.device_id),
	created AS (
		INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since, next_step_at,
		                         scale, detail, called_at, first_called_at, anchor_at, device_id, device_kind, rule)
		SELECT f.resident_id, f.area_id, f.kind, 'called', f.tier, 1, sanse.leader_for(f.area_id, 1),
		       f.ends_at, f.ends_at, sanse.zone_add(f.ends_at, sanse.step_interval(f.kind, f.tier, 'called')),
		       'grid', f.detail, f.ends_at, f.ends_at, f.span_from, f.device_id, f.device_kind, f.rule
		  FROM first f
		 ORDER BY f.ends_at, f.device_id, f.rule
		RETURNING id, assignee_id, due_at, detail, device_id, rule),
	steps AS (
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		SELECT c.id, 1, c.assignee_id, c.due_at FROM created c),
	called AS (
		INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note)
		SELECT c.id, 'called', c.due_at, NULL, c.detail FROM created c)
	UPDATE sanse.device_span x SET event_id = c.id
	  FROM created c
	 WHERE x.device_id = c.device_id AND x.rule = c.rule AND x.ends_at = c.due_at;
END
$$;
REVOKE ALL ON FUNCTION device_spans_create(bigint[], text[], timestamptz[]) FROM PUBLIC;

-- Raise the spans given (locked by the caller), at the sweep's time p_at:
-- dropped, disproved, counted on what is open, raised.  raised: how many
-- were raised or counted; disproved: how many a late reading disproved
-- (the spans after it are recorded anew, for another pass).  Plans cached
-- (plan_cache_mode auto, whatever the sweep set): the lookups run once a
-- span, and planning each anew cost more than running it.
CREATE OR REPLACE FUNCTION device_spans_raise(p_devices bigint[], p_rules text[], p_ends timestamptz[], p_at timestamptz,
                                              OUT raised integer, OUT disproved integer)
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET plan_cache_mode = auto AS $$
BEGIN
	PERFORM sanse.device_spans_drop(p_devices, p_rules, p_ends);
	disproved := sanse.device_spans_late(p_devices, p_rules, p_ends, p_at);
	PERFORM sanse.device_spans_count_open(p_devices, p_rules, p_ends);
	PERFORM sanse.device_spans_count_covered(p_devices, p_rules, p_ends);
	PERFORM sanse.device_spans_create(p_devices, p_rules, p_ends);
	PERFORM sanse.device_spans_count_open(p_devices, p_rules, p_ends);
	SELECT count(*) INTO raised
	  FROM unnest(p_devices, p_rules, p_ends) u(device_id, rule, ends_at)
	  JOIN sanse.device_span x ON x.device_id = u.device_id AND x.rule = u.rule AND x.ends_at = u.ends_at
	 WHERE x.event_id IS NOT NULL;
END
$$;
REVOKE ALL ON FUNCTION device_spans_raise(bigint[], text[], timestamptz[], timestamptz) FROM PUBLIC;
