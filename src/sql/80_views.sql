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

CREATE OR REPLACE VIEW coverage_all AS
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
WITH per_grid AS (
	SELECT r.area_id, r.tier,
	       count(*) AS residents,
	       count(*) FILTER (WHERE s.status = 'overdue') AS overdue_now,
	       count(*) FILTER (WHERE s.status = 'met') AS window_met
	  FROM sanse.resident r
	  JOIN sanse.tier_policy p ON p.tier = r.tier
	 CROSS JOIN LATERAL (SELECT sanse.visit_status(r.next_visit, r.last_visit_at, p.cadence) AS status) s
	 WHERE r.active
	 GROUP BY r.area_id, r.tier)
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name, g.tier::text AS tier,
       sum(g.residents)::bigint AS residents, sum(g.overdue_now)::bigint AS overdue_now,
       sum(g.window_met)::bigint AS window_met,
       round(1 - sum(g.overdue_now)::numeric / sum(g.residents), 4) AS coverage_rate
  FROM per_grid g
  JOIN sanse.area m ON m.id = g.area_id
  JOIN sanse.area up ON up.path @> m.path
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
	       a.first_arrival < sanse.zone_add(e.due_at, sanse.step_interval(e.kind, e.tier, 'called')) AS in_time,
	       EXISTS (SELECT 1 FROM sanse.event_transition t WHERE t.event_id = e.id AND t.stage = 'handled') AS was_handled
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
       count(*) FILTER (WHERE ev.status <> 'closed') AS still_open
  FROM ev
  JOIN up ON up.grid_id = ev.area_id
 GROUP BY up.id, up.path, up.name, ev.month, ev.kind;
COMMENT ON VIEW loop_metrics_all IS 'all areas, for the owner (read loop_metrics): closed loop per area (rolled up), month of raising and kind: raised, answered in time (first arrival before the first arrival step), response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open';

-- The supervisor's board: every open event of every kind.
CREATE OR REPLACE VIEW open_events AS
SELECT e.id AS event_id, e.area_id, a.path::text AS path, a.name AS area_name, e.kind, e.scale,
       e.status AS stage, e.level, e.assignee_id, w.name AS assignee_name,
       now() - e.due_at AS age,
       e.next_step_at - now() AS time_left,
       e.parent_id
  FROM sanse.event e
  JOIN sanse.area a ON a.id = e.area_id
  LEFT JOIN sanse.worker w ON w.id = e.assignee_id
 WHERE e.status <> 'closed'
   AND e.area_id IN (SELECT sanse.granted_areas('read', current_user));
COMMENT ON VIEW open_events IS 'every open event of every kind: area, kind, scale, stage, level, assignee, age (since due or raised), time left on its clock (negative: a step is due)';

-- Visits a week a cadence asks for (a month counted as 30.44 days).
CREATE OR REPLACE FUNCTION visits_per_week(cadence text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
	WHEN lower(btrim(cadence)) LIKE 'rolling %'
	  THEN round(604800 / extract(epoch FROM justify_days(substr(btrim(cadence), 9)::interval)), 3)
	WHEN lower(btrim(cadence)) = 'calendar day' THEN 7
	WHEN lower(btrim(cadence)) = 'calendar week' THEN 1
	WHEN lower(btrim(cadence)) = 'calendar month' THEN round(7 / 30.44, 3)
	END;
COMMENT ON FUNCTION visits_per_week(text) IS 'visits a week a cadence asks for';

-- Who carries how much (paper 5.3.2: workers buried under visits): residents
-- in their care by tier, the visits a week their cadences ask for, open
-- events assigned to them, loop events they handled this month.
CREATE OR REPLACE VIEW worker_load AS
SELECT w.id AS worker_id, w.name AS worker_name, w.force, w.role, w.area_id,
       coalesce(c.red, 0) AS red, coalesce(c.yellow, 0) AS yellow, coalesce(c.blue, 0) AS blue,
       coalesce(c.visits_per_week, 0) AS visits_per_week,
       coalesce(o.open_overdue, 0) AS open_overdue,
       coalesce(o.open_loop, 0) AS open_loop,
       o.highest_level,
       coalesce(h.handled_this_month, 0) AS handled_this_month
  FROM sanse.worker w
  LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE r.tier = 'red') AS red,
	       count(*) FILTER (WHERE r.tier = 'yellow') AS yellow,
	       count(*) FILTER (WHERE r.tier = 'blue') AS blue,
	       sum(sanse.visits_per_week(p.cadence)) AS visits_per_week
	  FROM sanse.carer ca
	  JOIN sanse.resident r ON r.id = ca.resident_id AND r.active
	  JOIN sanse.tier_policy p ON p.tier = r.tier
	 WHERE ca.worker_id = w.id) c ON true
  LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE e.kind = 'overdue') AS open_overdue,
	       count(*) FILTER (WHERE e.kind <> 'overdue') AS open_loop,
	       max(e.level) AS highest_level
	  FROM sanse.event e
	 WHERE e.assignee_id = w.id AND e.status <> 'closed') o ON true
  LEFT JOIN LATERAL (
	SELECT count(*) AS handled_this_month
	  FROM sanse.event_transition t
	 WHERE t.worker_id = w.id AND t.stage = 'handled'
	   AND t.at >= (date_trunc('month', now() AT TIME ZONE sanse.current_zone()) AT TIME ZONE sanse.current_zone())) h ON true
 WHERE w.active
   AND w.area_id IN (SELECT sanse.granted_areas('read', current_user));
COMMENT ON VIEW worker_load IS 'per active worker: residents in their care by tier, visits a week their cadences ask for, open events assigned (overdue, loop, highest level), loop events handled this month';

-----------------------------------------------------------------------------
-- The screen views clients read (spec 8): each role sees the areas granted
-- to it (every area for superusers and the owner).  An area it sees exactly
-- (read or care) is computed live; an area it sees as aggregates only is
-- read from what the sweep published (77_published.sql): small cells and
-- their complements hidden, so no hidden count can be worked out by
-- arithmetic, and nothing computed from people's rows when the role asks.
-- Names and paths are the areas' (and workers') as they are now, the
-- counts as published.  Each branch is gated by a one-time filter on the
-- caller, so a role with
-- aggregate access only never executes the live one (nor EXPLAIN ANALYZE
-- shows it run).
-----------------------------------------------------------------------------
CREATE OR REPLACE VIEW coverage AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.residents, p.red, p.yellow, p.blue, p.overdue_now,
	       p.window_met, p.coverage_rate
	  FROM sanse.published_coverage p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT c.area_id, c.path, c.kind, c.name, c.residents, c.red, c.yellow, c.blue, c.overdue_now, c.window_met,
	       c.coverage_rate
	  FROM sanse.coverage_all c
	  JOIN sanse.screen_areas() v ON v.id = c.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage IS 'per area at every level (rolled up the hierarchy) the role may see: residents in the programme by tier, overdue now, current window met, coverage rate = share not overdue (for aggregate-only roles: as published by the sweep, cells suppressed)';

CREATE OR REPLACE VIEW coverage_by_tier AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.tier, p.residents, p.overdue_now, p.window_met,
	       p.coverage_rate
	  FROM sanse.published_coverage_by_tier p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT c.area_id, c.path, c.kind, c.name, c.tier, c.residents, c.overdue_now, c.window_met, c.coverage_rate
	  FROM sanse.coverage_by_tier_all c
	  JOIN sanse.screen_areas() v ON v.id = c.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage_by_tier IS 'coverage per area (rolled up) the role may see and tier (as text): residents, overdue now, window met, coverage rate (for aggregate-only roles: as published by the sweep, every tier of every area, cells suppressed)';

CREATE OR REPLACE VIEW overdue_events AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.month, p.opened, p.closed, p.still_open,
	       p.reached_level_1, p.reached_level_2, p.reached_level_3, p.reached_level_4, p.median_time_to_close
	  FROM sanse.published_overdue_events p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT o.area_id, o.path, o.kind, o.name, o.month, o.opened, o.closed, o.still_open,
	       o.reached_level_1, o.reached_level_2, o.reached_level_3, o.reached_level_4, o.median_time_to_close
	  FROM sanse.overdue_events_all o
	  JOIN sanse.screen_areas() v ON v.id = o.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW overdue_events IS 'per area (rolled up) the role may see and month of the due time: overdue events opened, closed, still open, by highest level reached, median time to close (for aggregate-only roles: as published by the sweep, cells suppressed)';

CREATE OR REPLACE VIEW grid_daily_report AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.name, p.day, p.visits, p.complete_checklists, p.flagged_visits,
	       p.events_opened, p.events_closed
	  FROM sanse.published_grid_daily_report p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT d.area_id, d.path, d.name, d.day, d.visits, d.complete_checklists, d.flagged_visits, d.events_opened, d.events_closed
	  FROM sanse.grid_daily_report_all d
	  JOIN sanse.screen_areas() v ON v.id = d.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW grid_daily_report IS 'daily grid work report (网格工作报告) per micro grid the role may see: visits, complete checklists, flagged visits, events opened (by due day) and closed (for aggregate-only roles: as published by the sweep, cells suppressed)';

CREATE OR REPLACE VIEW loop_metrics AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.name, p.month, p.kind, p.raised, p.answered_in_time, p.response_rate,
	       p.median_time_to_arrive, p.handled, p.closed, p.reopened, p.mean_rating, p.confirmed_solved, p.still_open
	  FROM sanse.published_loop_metrics p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT l.area_id, l.path, l.name, l.month, l.kind, l.raised, l.answered_in_time, l.response_rate,
	       l.median_time_to_arrive, l.handled, l.closed, l.reopened, l.mean_rating, l.confirmed_solved, l.still_open
	  FROM sanse.loop_metrics_all l
	  JOIN sanse.screen_areas() v ON v.id = l.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW loop_metrics IS 'closed loop per area (rolled up) the role may see, month of raising and kind: raised, answered in time, response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open (for aggregate-only roles: as published by the sweep, cells suppressed, no mean rating)';
