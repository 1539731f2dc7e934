-----------------------------------------------------------------------------
-- Catch-up sweeps (issue 22): set-based opening, bounded per call
-----------------------------------------------------------------------------

-- A sweeper that was down for a day at province scale finds tens of
-- thousands of missed windows at once.  sanse.sweep() opens them in batches
-- of open_due_events, one statement each, and starts no new batch (of
-- opening or of escalation) once the call has run for sweep_budget(); what
-- is left waits for the next call (pg_cron runs one a minute), so a
-- check-in on a resident of the catch-up waits for one call, not for the
-- whole catch-up.  Every time is derived from the data, so the events and
-- steps are the same however many calls it takes.

-- How each sweep ended: one row, written by every sweep that ran (not by one
-- that skipped), read by sweep_status.
CREATE TABLE sweep_progress (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	at timestamptz NOT NULL,
	started_at timestamptz NOT NULL,
	ended_at timestamptz NOT NULL,
	overdue_opened integer NOT NULL,
	escalations integer NOT NULL,
	overdue_left boolean NOT NULL,
	escalations_left boolean NOT NULL
);
REVOKE ALL ON sweep_progress FROM PUBLIC;
COMMENT ON TABLE sweep_progress IS 'the last sweep that ran: its time, wall-clock start and end, events opened, steps taken, and whether it left overdue events to open or steps to take to the next call (a bounded catch-up)';
-- dumped, so a restored database knows whether its last sweep left work
SELECT pg_catalog.pg_extension_config_dump('sweep_progress', '');

-- How a sweep call ended, for sweep_status.
CREATE OR REPLACE FUNCTION sweep_progress_record(at timestamptz, began timestamptz, opened integer, steps integer,
                                                 overdue_left boolean, escalations_left boolean) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	INSERT INTO sanse.sweep_progress AS p (at, started_at, ended_at, overdue_opened, escalations, overdue_left, escalations_left)
	VALUES (sweep_progress_record.at, sweep_progress_record.began, pg_catalog.clock_timestamp(), sweep_progress_record.opened,
	        sweep_progress_record.steps, sweep_progress_record.overdue_left, sweep_progress_record.escalations_left)
	ON CONFLICT (one) DO UPDATE
	   SET at = excluded.at, started_at = excluded.started_at, ended_at = excluded.ended_at,
	       overdue_opened = excluded.overdue_opened, escalations = excluded.escalations,
	       overdue_left = excluded.overdue_left, escalations_left = excluded.escalations_left;
END;
REVOKE ALL ON FUNCTION sweep_progress_record(timestamptz, timestamptz, integer, integer, boolean, boolean) FROM PUBLIC;

-- After this long a sweep call starts no new batch of opening or escalation.
CREATE OR REPLACE FUNCTION sweep_budget() RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE
RETURN interval '200 milliseconds';
COMMENT ON FUNCTION sweep_budget() IS 'a sweep call starts no new batch of overdue events or escalation steps after running this long; the rest is left to the next call';

-- Events opened per statement: small enough that one batch stays well under
-- a second on a loaded machine, large enough that a statement's fixed costs
-- are spread.
CREATE OR REPLACE FUNCTION sweep_batch() RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
RETURN 200;
COMMENT ON FUNCTION sweep_batch() IS 'residents whose overdue events one statement of a sweep opens, and open events one statement of a bounded sweep escalates';

-- One batch: lock those of p_residents still due whose missed window has no
-- event yet (a row another transaction holds is skipped, as sweep_overdue
-- always did) and open their events in one
-- statement.  With p_climb the event is opened at the level its schedule
-- has reached by p_at, with every step up to it (the escalation the same
-- sweep would take right after: the same levels, times and leaders, read in
-- the same transaction), so no event is updated right after its insert;
-- without it at level 1, as sweep_overdue opens them.  The leaders of each
-- (micro grid, level) are found once per batch through the area hierarchy,
-- the carers charged with a join: no function call per row.
-- Returns the residents locked, the events opened and the steps above level
-- 1 taken.
CREATE OR REPLACE FUNCTION open_due_events(p_at timestamptz, p_residents bigint[], p_climb boolean,
                                           OUT locked integer, OUT opened integer, OUT climbed integer)
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	-- dynamic: planned for these values each batch (the same statement run
	-- as static PL/pgSQL took twice the CPU per event)
	EXECUTE $q$
	WITH due AS MATERIALIZED (
		SELECT r.id, r.area_id, r.tier, sanse.due_at(r.next_visit) AS due, coalesce(r.last_visit_at, r.registered_at) AS anchor
		  FROM sanse.resident r
		 WHERE r.id = ANY ($2) AND r.active AND r.next_visit IS NOT NULL AND sanse.due_at(r.next_visit) <= $1
		   AND NOT EXISTS (SELECT 1 FROM sanse.event e
		                    WHERE e.resident_id = r.id AND e.kind = 'overdue'
		                      AND (e.due_at = sanse.due_at(r.next_visit) OR e.anchor_at = coalesce(r.last_visit_at, r.registered_at)))
		 ORDER BY sanse.due_at(r.next_visit), r.id
		   FOR NO KEY UPDATE OF r SKIP LOCKED),
	timed AS MATERIALIZED (	-- t[j]: the time of step j, each escalate_after after the last
		SELECT d.id, d.area_id, d.tier, d.due, d.anchor, x.t,
		       CASE WHEN NOT $3 THEN 1 WHEN x.t[4] <= $1 THEN 4 WHEN x.t[3] <= $1 THEN 3
		            WHEN x.t[2] <= $1 THEN 2 ELSE 1 END AS level
		  FROM due d
		  JOIN sanse.tier_policy p ON p.tier = d.tier
		 CROSS JOIN LATERAL (SELECT sanse.zone_add(d.due, p.escalate_after) AS t2) a
		 CROSS JOIN LATERAL (SELECT sanse.zone_add(a.t2, p.escalate_after) AS t3) b
		 CROSS JOIN LATERAL (SELECT ARRAY[d.due, a.t2, b.t3, sanse.zone_add(b.t3, p.escalate_after)] AS t) x),
	reach AS MATERIALIZED (	-- each micro grid in the batch and the highest level reached there
		SELECT t.area_id, max(t.level) AS top FROM timed t GROUP BY t.area_id),
	ladder AS MATERIALIZED (	-- the path of the area whose leader each level is (leader_for's)
		SELECT g.area_id, l.level, x.lead_path::text AS lead_key
		  FROM reach g
		  JOIN sanse.area m ON m.id = g.area_id
		 CROSS JOIN LATERAL generate_series(1, g.top) l(level)
		 CROSS JOIN LATERAL (SELECT sanse.path_ancestor(m.path, CASE l.level WHEN 4 THEN 1
		                                                    ELSE sanse.path_depth(m.path) - l.level + 1 END) AS lead_path) x),
	leaders AS MATERIALIZED (	-- each such area once (many micro grids share one above level 1), found
		-- by its path as text (a hash join; ltree has no hash support in 15): its lowest-id active leader
		SELECT s.lead_key, s.level,
		       (SELECT w.id FROM sanse.worker w
		         WHERE w.area_id = a.id AND w.active AND w.role = (sanse.worker_roles())[s.level + 1]
		         ORDER BY w.id LIMIT 1) AS leader
		  FROM (SELECT DISTINCT l.lead_key, l.level FROM ladder l) s
		  LEFT JOIN sanse.area a ON a.path::text = s.lead_key),
	placed AS MATERIALIZED (
		SELECT l.area_id, l.level, x.leader FROM ladder l JOIN leaders x USING (lead_key, level)),
	created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at,
		                         charged_to, anchor_at)
		SELECT t.id, t.area_id, t.tier, t.level, p.leader, t.due, t.t[t.level],
		       CASE WHEN t.level < 4 THEN t.t[t.level + 1] END,
		       ARRAY(SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = t.id ORDER BY c.worker_id), t.anchor
		  FROM timed t
		  JOIN placed p ON p.area_id = t.area_id AND p.level = t.level
		 ORDER BY t.due, t.id
		-- either unique index of overdue events (see open_overdue_events)
		ON CONFLICT DO NOTHING
		RETURNING id, area_id, tier, level, due_at),
	stepped AS (	-- step j at t[j] again (zone_add is deterministic), for the leader of (area, j)
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		SELECT c.id, p.level, p.leader,
		       CASE p.level WHEN 1 THEN c.due_at
		              WHEN 2 THEN sanse.zone_add(c.due_at, y.escalate_after)
		              WHEN 3 THEN sanse.zone_add(sanse.zone_add(c.due_at, y.escalate_after), y.escalate_after)
		              ELSE sanse.zone_add(sanse.zone_add(sanse.zone_add(c.due_at, y.escalate_after), y.escalate_after), y.escalate_after) END
		  FROM created c
		  JOIN sanse.tier_policy y ON y.tier = c.tier
		  JOIN placed p ON p.area_id = c.area_id AND p.level <= c.level	-- placed holds levels 1 to the top reached
		RETURNING level)
	SELECT (SELECT count(*) FROM due), (SELECT count(*) FROM created), (SELECT count(*) FROM stepped s WHERE s.level > 1)
	$q$ INTO locked, opened, climbed USING p_at, p_residents, p_climb;
END
$$;
REVOKE ALL ON FUNCTION open_due_events(timestamptz, bigint[], boolean) FROM PUBLIC;
COMMENT ON FUNCTION open_due_events(timestamptz, bigint[], boolean) IS 'one batch of a sweep: open the overdue events of those of p_residents still due by p_at without one (locked rows skipped), at level 1 or, with p_climb, at the level reached by p_at with its steps; returns residents locked, events opened, steps above level 1';
-- The residents due by p_at whose window has no event yet, oldest due time
-- first, at most p_max (NULL: all): read once a call, without locks, and
-- opened in slices by open_due_events, so that no batch reads again the due
-- residents the call has passed (whose events exist now: they stay due until
-- a visit).  A row skipped because another transaction held it is met again
-- by the next call.
CREATE OR REPLACE FUNCTION due_without_event(p_at timestamptz, p_max integer) RETURNS bigint[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN ARRAY(SELECT r.id FROM sanse.resident r
	              WHERE r.active AND r.next_visit IS NOT NULL AND sanse.due_at(r.next_visit) <= p_at
	                AND NOT EXISTS (SELECT 1 FROM sanse.event e
	                                 WHERE e.resident_id = r.id AND e.kind = 'overdue'
	                                   AND (e.due_at = sanse.due_at(r.next_visit)
	                                        OR e.anchor_at = coalesce(r.last_visit_at, r.registered_at)))
	              ORDER BY sanse.due_at(r.next_visit)
	              LIMIT p_max);
END
$$;
REVOKE ALL ON FUNCTION due_without_event(timestamptz, integer) FROM PUBLIC;

-- sweep()'s opening phase: batches until none is left or the call's budget
-- is spent (then more = true).
CREATE OR REPLACE FUNCTION sweep_catch_up(p_at timestamptz, p_until timestamptz,
                                          OUT opened integer, OUT climbed integer, OUT more boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	b record;
	n integer := sanse.sweep_batch();
	cap integer := 50 * sanse.sweep_batch();	-- listed once a call (at most)
	ids bigint[] := sanse.due_without_event(p_at, cap);
	i integer := 1;
BEGIN
	opened := 0;
	climbed := 0;
	WHILE i <= cardinality(ids) LOOP
		b := sanse.open_due_events(p_at, ids[i:i + n - 1], true);
		opened := opened + b.opened;
		climbed := climbed + b.climbed;
		i := i + n;
		EXIT WHEN pg_catalog.clock_timestamp() >= p_until;
	END LOOP;
	more := i <= cardinality(ids) OR cardinality(ids) >= cap;
END
$$;
REVOKE ALL ON FUNCTION sweep_catch_up(timestamptz, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION sweep_catch_up(timestamptz, timestamptz) IS 'open overdue events due by p_at at their reached level, in batches, starting none after p_until; more: a batch was full when it stopped';

-- A catch-up as fast as the server goes, still bounded: sweep() calls back
-- to back, each committed (so each holds its rows for one call only), until
-- one leaves no work (or max_calls ran).  Not SECURITY DEFINER (a procedure
-- that commits cannot be): the caller needs EXECUTE on sanse.sweep, as the
-- sweep job's role has; nor has it a SET clause (neither can).  Runs as its
-- caller, every name qualified.  CALL sanse.catch_up(); outside a
-- transaction block.
CREATE OR REPLACE PROCEDURE catch_up(max_calls integer DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
	calls integer := 0;
	left_over boolean;
BEGIN
	LOOP
		PERFORM sanse.sweep();
		calls := calls + 1;
		SELECT p.overdue_left OR p.escalations_left INTO left_over FROM sanse.sweep_progress p;
		COMMIT;
		EXIT WHEN NOT coalesce(left_over, false) OR calls >= max_calls;
	END LOOP;
END
$$;
REVOKE ALL ON PROCEDURE catch_up(integer) FROM PUBLIC;
COMMENT ON PROCEDURE catch_up(integer) IS 'sweep() back to back, each call committed, until one leaves no work for the next (or max_calls ran): a catch-up at full speed whose every call holds its locks for one bounded call';
