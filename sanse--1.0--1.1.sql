/* sanse 1.0 -> 1.1: the per-(worker, month) tally behind worker_checkin_rate. */
\echo Use "ALTER EXTENSION sanse UPDATE TO '1.1'" to load this file. \quit

-----------------------------------------------------------------------------
-- worker_month: check-in rates kept as they happen
--
-- A window's outcome counts for the resident's carers at the moment it is
-- recorded: met when the visit that met it is stored, missed when its overdue
-- event is opened.  Reassigning a carer later does not rewrite history.  An
-- event that is removed (an on-time visit that reached the server after a
-- sweep) is taken back from exactly the workers it was charged to.
--
-- Writers only append to worker_month_pending (check_in, the event
-- triggers), so a check-in never waits for another check-in or a sweep over a
-- shared counter, and no lock order can deadlock them; each sweep folds the
-- pending rows into worker_month.  worker_tally adds both.
-----------------------------------------------------------------------------

-- Calendar month of a time in sanse.timezone (the zone when the row is tallied).
CREATE FUNCTION month_of(t timestamptz) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
RETURN date_trunc('month', t AT TIME ZONE sanse.current_zone())::date;
COMMENT ON FUNCTION month_of(timestamptz) IS 'first day of the month of t in sanse.timezone';

ALTER TABLE event ADD COLUMN charged_to bigint[];
COMMENT ON COLUMN event.charged_to IS 'the resident''s carers when the window was missed: the workers whose check-in rate it counts against';
UPDATE event e
   SET charged_to = (SELECT array_agg(c.worker_id ORDER BY c.worker_id) FROM carer c WHERE c.resident_id = e.resident_id);

CREATE TABLE worker_month (
	worker_id bigint NOT NULL REFERENCES worker (id) ON DELETE CASCADE,
	month date NOT NULL,
	windows_met bigint NOT NULL DEFAULT 0,
	windows_missed bigint NOT NULL DEFAULT 0,
	visits bigint NOT NULL DEFAULT 0,
	flagged_visits bigint NOT NULL DEFAULT 0,
	checklist_items bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (worker_id, month)
);
CREATE INDEX worker_month_month ON worker_month (month);
COMMENT ON TABLE worker_month IS 'per worker and month (sanse.timezone): windows of residents in their care met and missed, their visits, flagged visits and checklist items ticked; folded from worker_month_pending by each sweep';

-- Each row counts its numbers once for every worker in workers.
CREATE TABLE worker_month_pending (
	workers bigint[] NOT NULL,
	month date NOT NULL,
	windows_met int NOT NULL DEFAULT 0,
	windows_missed int NOT NULL DEFAULT 0,
	visits int NOT NULL DEFAULT 0,
	flagged_visits int NOT NULL DEFAULT 0,
	checklist_items int NOT NULL DEFAULT 0
);
COMMENT ON TABLE worker_month_pending IS 'tally rows appended by check_in and the event triggers since the last sweep; each counts for every worker in workers';

CREATE VIEW worker_tally AS
SELECT t.worker_id, t.month,
       sum(t.windows_met)::bigint AS windows_met, sum(t.windows_missed)::bigint AS windows_missed,
       sum(t.visits)::bigint AS visits, sum(t.flagged_visits)::bigint AS flagged_visits,
       sum(t.checklist_items)::bigint AS checklist_items
  FROM (SELECT m.worker_id, m.month, m.windows_met, m.windows_missed, m.visits, m.flagged_visits, m.checklist_items
          FROM sanse.worker_month m
        UNION ALL
        SELECT w.worker_id, p.month, p.windows_met, p.windows_missed, p.visits, p.flagged_visits, p.checklist_items
          FROM sanse.worker_month_pending p CROSS JOIN LATERAL unnest(p.workers) AS w(worker_id)) t
 GROUP BY t.worker_id, t.month;
COMMENT ON VIEW worker_tally IS 'worker_month plus the rows not folded into it yet';

-- Move the pending rows into worker_month (sweep does it, under its lock).
CREATE FUNCTION fold_worker_month() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n bigint;
BEGIN
	WITH moved AS (
		DELETE FROM sanse.worker_month_pending RETURNING *)
	INSERT INTO sanse.worker_month AS m (worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items)
	SELECT w.worker_id, p.month, sum(p.windows_met), sum(p.windows_missed), sum(p.visits),
	       sum(p.flagged_visits), sum(p.checklist_items)
	  FROM moved p CROSS JOIN LATERAL unnest(p.workers) AS w(worker_id)
	 GROUP BY 1, 2
	 ORDER BY 1, 2
	ON CONFLICT (worker_id, month) DO UPDATE
	   SET windows_met = m.windows_met + excluded.windows_met,
	       windows_missed = m.windows_missed + excluded.windows_missed,
	       visits = m.visits + excluded.visits,
	       flagged_visits = m.flagged_visits + excluded.flagged_visits,
	       checklist_items = m.checklist_items + excluded.checklist_items;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION fold_worker_month() FROM PUBLIC;
COMMENT ON FUNCTION fold_worker_month() IS 'fold worker_month_pending into worker_month; returns the number of (worker, month) rows written';

-- check_in appends its visit to worker_month_pending in the same statement
-- that stores it (visits are written by check_in only).
CREATE OR REPLACE FUNCTION check_in(token text, worker_id bigint, at timestamptz DEFAULT now(),
                                    checklist text[] DEFAULT '{}', note text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'check_in_1_1' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, sanse;

-- Missed windows: +1 for the carers charged when events are opened, -1 when removed.
CREATE FUNCTION tally_missed(events event[], sign int) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	INSERT INTO sanse.worker_month_pending (workers, month, windows_missed)
	SELECT coalesce(e.charged_to, ARRAY(SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = e.resident_id)),
	       sanse.month_of(e.due_at), tally_missed.sign
	  FROM unnest(tally_missed.events) e;
END;
REVOKE ALL ON FUNCTION tally_missed(event[], int) FROM PUBLIC;

CREATE FUNCTION event_tally() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		PERFORM sanse.tally_missed(ARRAY(SELECT ROW(n.*)::sanse.event FROM new_events n), 1);
	ELSE
		PERFORM sanse.tally_missed(ARRAY(SELECT ROW(o.*)::sanse.event FROM old_events o), -1);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER event_tally_insert AFTER INSERT ON event
	REFERENCING NEW TABLE AS new_events
	FOR EACH STATEMENT EXECUTE FUNCTION event_tally();
CREATE TRIGGER event_tally_delete AFTER DELETE ON event
	REFERENCING OLD TABLE AS old_events
	FOR EACH STATEMENT EXECUTE FUNCTION event_tally();

-- Recompute the whole tally from visits and events, e.g. after rows were
-- loaded with triggers off or sanse.timezone changed.  Met windows are
-- credited to the current carers (history of carers is not kept).
CREATE FUNCTION rebuild_worker_month() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n bigint;
BEGIN
	-- no check-in, event or fold while we count
	LOCK TABLE sanse.visit, sanse.event IN SHARE MODE;
	LOCK TABLE sanse.worker_month, sanse.worker_month_pending IN EXCLUSIVE MODE;
	DELETE FROM sanse.worker_month_pending;
	DELETE FROM sanse.worker_month;
	INSERT INTO sanse.worker_month (worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items)
	SELECT x.worker_id, x.month, sum(x.met), sum(x.missed), sum(x.visits), sum(x.flagged), sum(x.items)
	  FROM (SELECT v.worker_id, sanse.month_of(v.at) AS month, 0 AS met, 0 AS missed, 1 AS visits,
	               (v.flags <> '{}')::int AS flagged, cardinality(v.checklist) AS items
	          FROM sanse.visit v
	        UNION ALL
	        SELECT c.worker_id, sanse.month_of(v.window_due), 1, 0, 0, 0, 0
	          FROM sanse.visit v JOIN sanse.carer c ON c.resident_id = v.resident_id
	         WHERE v.window_due IS NOT NULL
	        UNION ALL
	        SELECT w.worker_id, sanse.month_of(e.due_at), 0, 1, 0, 0, 0
	          FROM sanse.event e
	         CROSS JOIN LATERAL unnest(coalesce(e.charged_to,
	                    ARRAY(SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = e.resident_id))) AS w(worker_id)
	         WHERE e.kind = 'overdue') x
	 GROUP BY x.worker_id, x.month;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION rebuild_worker_month() IS 'recompute worker_month from visits and events (met windows credited to current carers); returns the number of rows';
REVOKE ALL ON FUNCTION rebuild_worker_month() FROM PUBLIC;
SELECT sanse.rebuild_worker_month();
SELECT pg_catalog.pg_extension_config_dump('worker_month', '');
SELECT pg_catalog.pg_extension_config_dump('worker_month_pending', '');

-- The sweep also folds the tally.
CREATE OR REPLACE FUNCTION sweep(at timestamptz DEFAULT now(),
                                 OUT overdue_opened integer, OUT escalations integer, OUT skipped boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	-- one sweep at a time; an overlapping run skips instead of doubling work
	IF NOT pg_try_advisory_xact_lock(hashtext('sanse.sweep')) THEN
		overdue_opened := 0;
		escalations := 0;
		skipped := true;
		RETURN;
	END IF;
	overdue_opened := sanse.sweep_overdue(at);
	escalations := sanse.sweep_escalations(at);
	PERFORM sanse.fold_worker_month();
	skipped := false;
END
$$;
COMMENT ON FUNCTION sweep(timestamptz) IS 'sweep_overdue, sweep_escalations, then fold_worker_month, under an advisory lock';

-- Events are charged to the carers of the moment they are opened.
CREATE OR REPLACE FUNCTION open_overdue_event(p_resident bigint, p_due timestamptz, p_tier risk_tier) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	WITH created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at, charged_to)
		SELECT r.id, r.area_id, p_tier, 1, sanse.leader_for(r.area_id, 1), p_due, p_due,
		       sanse.zone_add(p_due, p.escalate_after),
		       ARRAY(SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = r.id ORDER BY c.worker_id)
		  FROM sanse.resident r JOIN sanse.tier_policy p ON p.tier = p_tier
		 WHERE r.id = p_resident
		ON CONFLICT (resident_id, due_at) WHERE kind = 'overdue' DO NOTHING
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
	n int;
BEGIN
	-- Lock the due residents (a check-in holding one makes us wait and
	-- re-check its new window) and open the event of each missed window once.
	WITH due AS (
		SELECT r.id, r.area_id, r.tier, sanse.due_at(r.next_visit) AS due
		  FROM sanse.resident r
		 WHERE r.active AND r.next_visit IS NOT NULL
		   AND sanse.due_at(r.next_visit) <= sweep_overdue.at
		   FOR NO KEY UPDATE OF r),
	created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at, charged_to)
		SELECT d.id, d.area_id, d.tier, 1, sanse.leader_for(d.area_id, 1), d.due, d.due,
		       sanse.zone_add(d.due, p.escalate_after),
		       ARRAY(SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = d.id ORDER BY c.worker_id)
		  FROM due d JOIN sanse.tier_policy p ON p.tier = d.tier
		 WHERE NOT EXISTS (SELECT 1 FROM sanse.event e
		                    WHERE e.resident_id = d.id AND e.due_at = d.due AND e.kind = 'overdue')
		ON CONFLICT (resident_id, due_at) WHERE kind = 'overdue' DO NOTHING
		RETURNING id, assignee_id, level_since)
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT id, 1, assignee_id, level_since FROM created;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- The view now reads the tally: one row per (worker, month) with activity.
CREATE OR REPLACE VIEW worker_checkin_rate AS
SELECT t.worker_id, wk.name AS worker_name, wk.force, wk.area_id, t.month,
       t.windows_met + t.windows_missed AS windows_due,
       t.windows_met,
       CASE WHEN t.windows_met + t.windows_missed > 0
            THEN round(t.windows_met::numeric / (t.windows_met + t.windows_missed), 4) END AS checkin_rate,
       t.visits,
       t.flagged_visits,
       CASE WHEN t.visits > 0 THEN round(t.checklist_items::numeric / (9 * t.visits), 4) END AS checklist_completeness
  FROM sanse.worker_tally t
  JOIN sanse.worker wk ON wk.id = t.worker_id
 WHERE t.windows_met + t.windows_missed > 0 OR t.visits > 0;
COMMENT ON VIEW worker_checkin_rate IS 'per worker and month (sanse.timezone): windows due for the residents in their care when the outcome was recorded, met on time, check-in rate (打卡率), their visits, flagged visits, checklist completeness';

-----------------------------------------------------------------------------
-- Screen-patrol views whose plans do not hinge on the planner's guesses.
-- coverage rolls a grid up to its ancestors with the gist index on
-- area.path (an ancestor list from generate_series is estimated at 1,000
-- rows a grid, which pushed the plan over jit_above_cost and cost more in
-- compilation than in execution).  overdue_events joins events to a
-- materialized (grid, ancestor) list by hash instead of probing the gist
-- index once per event.  grid_daily_report walks the local days and reads
-- each day's rows through index ranges on the time columns.
-----------------------------------------------------------------------------
CREATE INDEX visit_at ON visit (at);
CREATE INDEX event_due_at ON event (due_at);
CREATE INDEX event_closed_at ON event (resolved_at) WHERE status = 'closed';
CREATE INDEX event_area_closed_at ON event (area_id, resolved_at) WHERE status = 'closed';

CREATE OR REPLACE VIEW coverage AS
WITH per_grid AS (
	SELECT r.area_id,
	       count(*) AS residents,
	       count(*) FILTER (WHERE r.tier = 'red') AS red,
	       count(*) FILTER (WHERE r.tier = 'yellow') AS yellow,
	       count(*) FILTER (WHERE r.tier = 'blue') AS blue,
	       count(*) FILTER (WHERE s.status = 'overdue') AS overdue_now,
	       count(*) FILTER (WHERE s.status = 'met') AS window_met
	  FROM sanse.resident r
	  JOIN sanse.tier_policy p ON p.tier = r.tier
	 CROSS JOIN LATERAL (SELECT sanse.visit_status(r.next_visit, r.last_visit_at, p.cadence) AS status) s
	 WHERE r.active
	 GROUP BY r.area_id),
rolled AS (
	SELECT up.id,
	       sum(g.residents) AS residents, sum(g.red) AS red, sum(g.yellow) AS yellow, sum(g.blue) AS blue,
	       sum(g.overdue_now) AS overdue_now, sum(g.window_met) AS window_met
	  FROM per_grid g
	  JOIN sanse.area m ON m.id = g.area_id
	  JOIN sanse.area up ON up.path @> m.path
	 GROUP BY up.id)
SELECT a.id AS area_id, a.path, a.kind, a.name,
       coalesce(r.residents, 0)::bigint AS residents,
       coalesce(r.red, 0)::bigint AS red,
       coalesce(r.yellow, 0)::bigint AS yellow,
       coalesce(r.blue, 0)::bigint AS blue,
       coalesce(r.overdue_now, 0)::bigint AS overdue_now,
       coalesce(r.window_met, 0)::bigint AS window_met,
       CASE WHEN r.residents > 0 THEN round(1 - r.overdue_now::numeric / r.residents, 4) END AS coverage_rate
  FROM sanse.area a
  LEFT JOIN rolled r ON r.id = a.id;

-- A month is computed per event, as in 1.0 (a filter on month cannot use an
-- index, but events are few).  The ancestor list is materialized so it is
-- joined by hash whatever the planner guesses about the month filter: a
-- gist probe per event cost 0.6 s for one month at 100x the paper.
CREATE OR REPLACE VIEW overdue_events AS
WITH ev AS (
	SELECT e.area_id, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
	       e.status, e.level, e.resolved_at - e.due_at AS time_to_close
	  FROM sanse.event e
	 WHERE e.kind = 'overdue'),
up AS MATERIALIZED (
	SELECT m.id AS grid_id, a.id, a.path, a.kind, a.name
	  FROM sanse.area m
	  JOIN sanse.area a ON a.path @> m.path)
SELECT up.id AS area_id, up.path, up.kind, up.name, ev.month,
       count(*) AS opened,
       count(*) FILTER (WHERE ev.status = 'closed') AS closed,
       count(*) FILTER (WHERE ev.status <> 'closed') AS still_open,
       count(*) FILTER (WHERE ev.level = 1) AS reached_level_1,
       count(*) FILTER (WHERE ev.level = 2) AS reached_level_2,
       count(*) FILTER (WHERE ev.level = 3) AS reached_level_3,
       count(*) FILTER (WHERE ev.level = 4) AS reached_level_4,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ev.time_to_close)
           FILTER (WHERE ev.status = 'closed') AS median_time_to_close
  FROM ev
  JOIN up ON up.grid_id = ev.area_id
 GROUP BY up.id, up.path, up.kind, up.name, ev.month;

-- The days walked run from the earliest to the latest finite visit, due or
-- closing time (each an index end-point), stepped as local dates (not in the
-- session's TimeZone).  A row belongs to the day of its own local date, as
-- in 1.0; the index range only narrows the search, and is three hours wider
-- than [local midnight, next local midnight) on both sides, because where
-- clocks go back over midnight the day starts at the first midnight while
-- AT TIME ZONE reads the second.  No zone has gone back more than three
-- hours since 1970 (Antarctica/Vostok in 1994 aside).
-- Summed per (grid, day) before the area's names are joined, so the sums
-- never sort or spill wide rows.
CREATE OR REPLACE VIEW grid_daily_report AS
SELECT s.area_id, a.path, a.name, s.day, s.visits, s.complete_checklists, s.flagged_visits,
       s.events_opened, s.events_closed
  FROM (
SELECT x.area_id, d.day,
       sum(x.visits)::bigint AS visits,
       sum(x.complete)::bigint AS complete_checklists,
       sum(x.flagged)::bigint AS flagged_visits,
       sum(x.opened)::bigint AS events_opened,
       sum(x.closed)::bigint AS events_closed
  FROM (SELECT g::date AS day,
               (g AT TIME ZONE sanse.current_zone()) - interval '3 hours' AS starts,
               ((g + interval '1 day') AT TIME ZONE sanse.current_zone()) + interval '3 hours' AS ends
          FROM generate_series(
                 (least((SELECT min(at) FROM sanse.visit WHERE at > '-infinity'),
                        (SELECT min(due_at) FROM sanse.event WHERE due_at > '-infinity'),
                        (SELECT min(resolved_at) FROM sanse.event WHERE status = 'closed' AND resolved_at > '-infinity'))
                  AT TIME ZONE sanse.current_zone())::date::timestamp,
                 (greatest((SELECT max(at) FROM sanse.visit WHERE at < 'infinity'),
                           (SELECT max(due_at) FROM sanse.event WHERE due_at < 'infinity'),
                           (SELECT max(resolved_at) FROM sanse.event WHERE status = 'closed' AND resolved_at < 'infinity'))
                  AT TIME ZONE sanse.current_zone())::date::timestamp,
                 interval '1 day') g) d
 CROSS JOIN LATERAL (
	SELECT v.area_id, 1 AS visits, (cardinality(v.checklist) = 9)::int AS complete,
	       (v.flags <> '{}')::int AS flagged, 0 AS opened, 0 AS closed
	  FROM sanse.visit v
	 WHERE v.at >= d.starts AND v.at < d.ends AND (v.at AT TIME ZONE sanse.current_zone())::date = d.day
	UNION ALL
	SELECT e.area_id, 0, 0, 0, 1, 0
	  FROM sanse.event e
	 WHERE e.due_at >= d.starts AND e.due_at < d.ends AND (e.due_at AT TIME ZONE sanse.current_zone())::date = d.day
	UNION ALL
	SELECT e.area_id, 0, 0, 0, 0, 1
	  FROM sanse.event e
	 WHERE e.status = 'closed' AND e.resolved_at >= d.starts AND e.resolved_at < d.ends
	   AND (e.resolved_at AT TIME ZONE sanse.current_zone())::date = d.day) x
 GROUP BY x.area_id, d.day) s
  JOIN sanse.area a ON a.id = s.area_id;
