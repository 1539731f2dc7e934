-----------------------------------------------------------------------------
-- Screen patrol (巡屏): views for supervisors and BI tools.  Paths and tiers
-- are text here, so a BI tool that knows nothing of ltree or sanse's types
-- (and has no sanse on its search_path) reads and filters them.
-----------------------------------------------------------------------------

-- Where a resident stands at a time: overdue (due passed), met (visited for
-- the current period: a rolling cadence after any visit in time, a calendar
-- one while its next window has not opened yet) or pending (window open, not
-- yet visited).  NULL when not in the programme.  No SET clause and no
-- sub-select, so the planner inlines it into the views.
CREATE OR REPLACE FUNCTION visit_status(next_visit visit_window, last_visit_at timestamptz, cadence text,
                             at timestamptz DEFAULT now()) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN CASE
	WHEN next_visit IS NULL THEN NULL
	WHEN sanse.due_at(next_visit) <= at THEN 'overdue'
	WHEN last_visit_at IS NOT NULL AND (at < sanse.opens_at(next_visit) OR cadence ILIKE 'rolling%') THEN 'met'
	ELSE 'pending' END;
COMMENT ON FUNCTION visit_status(visit_window, timestamptz, text, timestamptz) IS
	'overdue, met or pending for a resident''s window (and its tier''s cadence) at a time';

-- Per micro grid and tier, now: the grid's row of area_count (its status
-- counts by binary search in its sorted times: width_bucket gives how many
-- are at or before now), or, for a grid written since the last fold
-- (listed in area_count_dirty), one row per resident, from its own row.
-- The counts visit_status gives: overdue when due, met for a
-- visited resident whose window is not due yet and, on a calendar cadence,
-- not yet open (a window opens before it is due).  Each branch reads one
-- table (the listing and the cadences as sub-plans), so that a join on
-- area_id reaches both through their indexes: one town reads its grids.
CREATE OR REPLACE VIEW area_count_now AS
SELECT c.area_id, c.tier, c.residents::bigint AS residents,
       width_bucket(now(), c.due)::bigint AS overdue_now,
       (CASE WHEN c.tier = ANY (ARRAY(SELECT p.tier FROM sanse.tier_policy p WHERE p.cadence ILIKE 'rolling%'))
             THEN cardinality(c.visited_due) - width_bucket(now(), c.visited_due)
             ELSE cardinality(c.visited_opens) - width_bucket(now(), c.visited_opens) END)::bigint AS window_met
  FROM sanse.area_count c
 WHERE c.area_id NOT IN (SELECT d.area_id FROM sanse.area_count_dirty d)
UNION ALL
SELECT r.area_id, r.tier, 1::bigint AS residents,
       (r.next_visit IS NOT NULL AND sanse.due_at(r.next_visit) <= now())::int::bigint AS overdue_now,
       (r.next_visit IS NOT NULL AND sanse.due_at(r.next_visit) > now() AND r.last_visit_at IS NOT NULL
        AND (now() < sanse.opens_at(r.next_visit)
             OR r.tier = ANY (ARRAY(SELECT p.tier FROM sanse.tier_policy p WHERE p.cadence ILIKE 'rolling%'))))::int::bigint
           AS window_met
  FROM sanse.resident r
 WHERE r.active AND r.tier IS NOT NULL
   AND r.area_id = ANY (ARRAY(SELECT DISTINCT d.area_id FROM sanse.area_count_dirty d));
COMMENT ON VIEW area_count_now IS 'for the owner: per micro grid and tier, active residents in the programme, overdue now, current window met (from area_count; for a grid written since the last fold, one row per resident)';

CREATE OR REPLACE VIEW coverage_all AS
WITH per_grid AS (
	SELECT g.area_id,
	       sum(g.residents) AS residents,
	       sum(g.residents) FILTER (WHERE g.tier = 'red') AS red,
	       sum(g.residents) FILTER (WHERE g.tier = 'yellow') AS yellow,
	       sum(g.residents) FILTER (WHERE g.tier = 'blue') AS blue,
	       sum(g.overdue_now) AS overdue_now,
	       sum(g.window_met) AS window_met
	  FROM sanse.area_count_now g
	 GROUP BY g.area_id),
rolled AS (
	SELECT up.id,
	       sum(g.residents) AS residents, sum(g.red) AS red, sum(g.yellow) AS yellow, sum(g.blue) AS blue,
	       sum(g.overdue_now) AS overdue_now, sum(g.window_met) AS window_met
	  FROM per_grid g
	  JOIN sanse.area m ON m.id = g.area_id
	 CROSS JOIN LATERAL generate_series(1, nlevel(m.path)) k(k)
	  JOIN sanse.area up ON up.path::text = subpath(m.path, 0, k.k)::text	-- the ancestors, hashed
	 GROUP BY up.id)
SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name,
       coalesce(r.residents, 0)::bigint AS residents,
       coalesce(r.red, 0)::bigint AS red,
       coalesce(r.yellow, 0)::bigint AS yellow,
       coalesce(r.blue, 0)::bigint AS blue,
       coalesce(r.overdue_now, 0)::bigint AS overdue_now,
       coalesce(r.window_met, 0)::bigint AS window_met,
       CASE WHEN r.residents > 0 THEN round(1 - r.overdue_now::numeric / r.residents, 4) END AS coverage_rate
  FROM sanse.area a
  LEFT JOIN rolled r ON r.id = a.id;
COMMENT ON VIEW coverage_all IS 'all areas, for the owner (read coverage): per area at every level (rolled up the hierarchy): residents in the programme by tier, overdue now, current window met, coverage rate = share not overdue';

-- coverage per area and tier, with the tier as text: what a BI tool that
-- knows nothing of sanse filters with WHERE tier = 'red'.
CREATE OR REPLACE VIEW coverage_by_tier_all AS
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name, g.tier::text AS tier,
       sum(g.residents)::bigint AS residents, sum(g.overdue_now)::bigint AS overdue_now,
       sum(g.window_met)::bigint AS window_met,
       round(1 - sum(g.overdue_now)::numeric / sum(g.residents), 4) AS coverage_rate
  FROM (SELECT c.area_id, c.tier, sum(c.residents) AS residents, sum(c.overdue_now) AS overdue_now,
               sum(c.window_met) AS window_met
          FROM sanse.area_count_now c GROUP BY c.area_id, c.tier) g
  JOIN sanse.area m ON m.id = g.area_id
 CROSS JOIN LATERAL generate_series(1, nlevel(m.path)) k(k)
  JOIN sanse.area up ON up.path::text = subpath(m.path, 0, k.k)::text	-- the ancestors, hashed
 GROUP BY up.id, up.path, up.kind, up.name, g.tier;
COMMENT ON VIEW coverage_by_tier_all IS 'all areas, for the owner (read coverage_by_tier): coverage per area (rolled up) and tier (as text): residents, overdue now, window met, coverage rate';

-- Reads the tally kept as things happen (worker_tally): one row per (worker,
-- month) with activity, so a month of every worker costs milliseconds.
-- Workers of the areas the role may see; where its access is aggregate only,
-- the month as published by the sweep, small cells hidden (a worker's month
-- is no part of a published total: primary suppression only).
CREATE OR REPLACE VIEW worker_checkin_rate AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.worker_id, wk.name AS worker_name, wk.force, p.area_id, p.month, p.windows_due, p.windows_met,
	       p.checkin_rate, p.visits, p.flagged_visits, p.checklist_completeness
	  FROM sanse.published_worker_checkin_rate p
	  JOIN sanse.worker wk ON wk.id = p.worker_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT t.worker_id, wk.name AS worker_name, wk.force, wk.area_id, t.month,
	       t.windows_met + t.windows_missed AS windows_due, t.windows_met::bigint,
	       CASE WHEN t.windows_met + t.windows_missed > 0
	            THEN round(t.windows_met::numeric / (t.windows_met + t.windows_missed), 4) END AS checkin_rate,
	       t.visits::bigint, t.flagged_visits::bigint,
	       CASE WHEN t.visits > 0
	            THEN round(t.checklist_items::numeric / (cardinality(checklist_items()) * t.visits), 4) END AS checklist_completeness
	  FROM sanse.worker_tally t
	  JOIN sanse.worker wk ON wk.id = t.worker_id
	  JOIN sanse.screen_areas() v ON v.id = wk.area_id AND v.exact
	 WHERE (t.windows_met + t.windows_missed > 0 OR t.visits > 0)
	   AND sanse.screen_sees_exact()) u;
COMMENT ON VIEW worker_checkin_rate IS 'per worker and month (sanse.timezone): windows due for the residents in their care when the outcome was recorded, met on time, check-in rate (打卡率), their visits, flagged visits, checklist completeness';

-- A month is computed per event (a filter on month cannot use an
-- index, but events are few).  The ancestor list is materialized so it is
-- joined by hash whatever the planner guesses about the month filter: a
-- gist probe per event cost 0.6 s for one month at 100x the paper.
CREATE OR REPLACE VIEW overdue_events_all AS
WITH ev AS (
	SELECT e.area_id, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
	       e.status, e.level, e.resolved_at - e.due_at AS time_to_close
	  FROM sanse.event e
	 WHERE e.kind = 'overdue'),
up AS MATERIALIZED (
	SELECT m.id AS grid_id, a.id, a.path, a.kind, a.name
	  FROM sanse.area m
	  JOIN sanse.area a ON a.path @> m.path)
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name, ev.month,
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
COMMENT ON VIEW overdue_events_all IS 'all areas, for the owner (read overdue_events): per area (rolled up) and month of the due time: overdue events opened, closed, still open, by highest level reached, median time to close';

-- The days walked are the local dates (sanse.timezone, not the session's
-- TimeZone) that have a finite visit, due or closing time, found by a skip
-- scan of each index (the first time at or after the next day's start, one
-- probe per day that has rows): one row dated 4713 BC adds one day, never
-- the 6,700 years before the next one.  A row belongs to the day of its own local date;
-- the index range only narrows the search, and is three hours wider
-- than [local midnight, next local midnight) on both sides, because where
-- clocks go back over midnight the day starts at the first midnight while
-- AT TIME ZONE reads the second.  No zone has gone back more than three
-- hours since 1970 (Antarctica/Vostok in 1994 aside).
-- Summed per (grid, day) before the area's names are joined, so the sums
-- never sort or spill wide rows.
CREATE OR REPLACE VIEW grid_daily_report_all AS
SELECT s.area_id, a.path::text AS path, a.name, s.day, s.visits, s.complete_checklists, s.flagged_visits,
       s.events_opened, s.events_closed
  FROM (
SELECT x.area_id, d.day,
       sum(x.visits)::bigint AS visits,
       sum(x.complete)::bigint AS complete_checklists,
       sum(x.flagged)::bigint AS flagged_visits,
       sum(x.opened)::bigint AS events_opened,
       sum(x.closed)::bigint AS events_closed
  FROM (SELECT g.day,
               (g.day::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours' AS starts,
               ((g.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) + interval '3 hours' AS ends
          FROM (WITH RECURSIVE
                vd(day) AS (
                	SELECT (min(v.at) AT TIME ZONE sanse.current_zone())::date FROM sanse.visit v
                	 WHERE v.at > '-infinity' AND v.at < 'infinity'
                	UNION ALL
                	SELECT greatest(vd.day + 1, n.day)
                	  FROM vd CROSS JOIN LATERAL (
                		SELECT (SELECT (min(v.at) AT TIME ZONE sanse.current_zone())::date FROM sanse.visit v
                		         WHERE v.at >= ((vd.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours'
                		           AND v.at < 'infinity') AS day) n
                	 WHERE n.day IS NOT NULL),
                ed(day) AS (
                	SELECT (min(e.due_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                	 WHERE e.due_at > '-infinity' AND e.due_at < 'infinity'
                	UNION ALL
                	SELECT greatest(ed.day + 1, n.day)
                	  FROM ed CROSS JOIN LATERAL (
                		SELECT (SELECT (min(e.due_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                		         WHERE e.due_at >= ((ed.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours'
                		           AND e.due_at < 'infinity') AS day) n
                	 WHERE n.day IS NOT NULL),
                cd(day) AS (
                	SELECT (min(e.resolved_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                	 WHERE e.status = 'closed' AND e.resolved_at > '-infinity' AND e.resolved_at < 'infinity'
                	UNION ALL
                	SELECT greatest(cd.day + 1, n.day)
                	  FROM cd CROSS JOIN LATERAL (
                		SELECT (SELECT (min(e.resolved_at) AT TIME ZONE sanse.current_zone())::date FROM sanse.event e
                		         WHERE e.status = 'closed'
                		           AND e.resolved_at >= ((cd.day + 1)::timestamp AT TIME ZONE sanse.current_zone()) - interval '3 hours'
                		           AND e.resolved_at < 'infinity') AS day) n
                	 WHERE n.day IS NOT NULL)
                SELECT vd.day FROM vd WHERE vd.day IS NOT NULL
                UNION SELECT ed.day FROM ed WHERE ed.day IS NOT NULL
                UNION SELECT cd.day FROM cd WHERE cd.day IS NOT NULL) g) d
 CROSS JOIN LATERAL (
	SELECT v.area_id, 1 AS visits, (cardinality(v.checklist) = cardinality(checklist_items()))::int AS complete,
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
COMMENT ON VIEW grid_daily_report_all IS 'all areas, for the owner (read grid_daily_report): daily grid work report (网格工作报告) per micro grid: visits, complete checklists, flagged visits, events opened (by due day) and closed';


-- The closed loop per area (rolled up like coverage), month of raising (in
-- sanse.timezone) and kind.  An event is answered in time when its first
-- arrival came before its first arrival step (raised + arrive_within).
CREATE OR REPLACE VIEW loop_metrics_all AS
WITH ev AS (
	SELECT e.area_id, e.kind, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
	       e.status, e.rating, e.solved, e.evaluated_by, e.reopened,
	       a.first_arrival - e.due_at AS time_to_arrive,
	       EXISTS (SELECT 1 FROM sanse.event_transition t WHERE t.event_id = e.id AND t.stage = 'cancelled') AS was_cancelled,
	       a.first_arrival < sanse.zone_add(e.due_at, sanse.step_interval(e.kind, e.tier, 'called')) AS in_time,
	       EXISTS (SELECT 1 FROM sanse.event_transition t WHERE t.event_id = e.id AND t.stage IN ('handled', 'still_here')) AS was_handled
	  FROM sanse.event e
	  LEFT JOIN LATERAL (SELECT min(t.at) AS first_arrival FROM sanse.event_transition t
	                      WHERE t.event_id = e.id AND t.stage = 'arrived') a ON true
	 WHERE e.kind <> 'overdue'),
up AS MATERIALIZED (
	SELECT m.id AS grid_id, a.id, a.path, a.name
	  FROM sanse.area m
	  JOIN sanse.area a ON a.path @> m.path)
SELECT up.id AS area_id, up.path::text AS path, up.name, ev.month, ev.kind,
       count(*) AS raised,
       count(*) FILTER (WHERE ev.in_time) AS answered_in_time,
       round(count(*) FILTER (WHERE ev.in_time)::numeric / count(*), 4) AS response_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ev.time_to_arrive) AS median_time_to_arrive,
       count(*) FILTER (WHERE ev.was_handled) AS handled,
       count(*) FILTER (WHERE ev.status = 'closed') AS closed,
       count(*) FILTER (WHERE ev.reopened > 0) AS reopened,
       round(avg(ev.rating), 2) AS mean_rating,
       count(*) FILTER (WHERE ev.status = 'closed' AND ev.evaluated_by = 'resident' AND ev.solved) AS confirmed_solved,
       count(*) FILTER (WHERE ev.status <> 'closed') AS still_open,
       count(*) FILTER (WHERE ev.was_cancelled) AS cancelled
  FROM ev
  JOIN up ON up.grid_id = ev.area_id
 GROUP BY up.id, up.path, up.name, ev.month, ev.kind;
COMMENT ON VIEW loop_metrics_all IS 'all areas, for the owner (read loop_metrics): closed loop per area (rolled up), month of raising and kind: raised, answered in time (first arrival before the first arrival step), response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open, cancelled (closed by sanse before anyone arrived: a quiet warning a late reading disproved; never answered)';
