-- 1.2 -> 1.3, issue 18 items 4 and 3 (second half): small cells stay
-- hidden under arithmetic.  The screen for aggregate-only roles is
-- published by the sweep with primary and secondary cell suppression
-- (77_published.sql, whole), the screen views read it for the areas a role
-- sees as aggregates only, and grid_daily_report_all walks only the days
-- that have rows (one absurd row no longer makes it walk millennia).

-- make puts src/sql/77_published.sql here, whole: every object in it is new
-- in 1.3, so the update creates them exactly as a fresh install does
--@include src/sql/77_published.sql


-- 80_views.sql: the daily report's days

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


-- 80_views.sql and 78_history.sql: the screen views, published rows for aggregate-only areas

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

ALTER VIEW worker_checkin_rate SET (security_barrier = true);

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

ALTER VIEW coverage SET (security_barrier = true);

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

ALTER VIEW coverage_by_tier SET (security_barrier = true);

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

ALTER VIEW overdue_events SET (security_barrier = true);

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

ALTER VIEW grid_daily_report SET (security_barrier = true);

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

ALTER VIEW loop_metrics SET (security_barrier = true);

CREATE OR REPLACE VIEW coverage_history AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name, d.day,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.residents END AS residents,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.red END AS red,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.yellow END AS yellow,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.blue END AS blue,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.overdue END AS overdue,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.windows_met END AS windows_met,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_opened END AS events_opened,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_closed END AS events_closed,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_1 END AS open_level_1,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_2 END AS open_level_2,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_3 END AS open_level_3,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_4 END AS open_level_4,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_raised END AS loop_raised,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_answered_in_time END AS loop_answered_in_time,
	       h.coverage_rate, h.response_rate
	  FROM sanse.published_history_day d
	 CROSS JOIN sanse.area a
	  JOIN sanse.screen_areas() v ON v.id = a.id AND NOT v.exact
	  LEFT JOIN sanse.published_coverage_history h ON h.day = d.day AND h.area_id = a.id
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name, d.day,
	       coalesce(h.residents, 0)::bigint, coalesce(h.red, 0)::bigint, coalesce(h.yellow, 0)::bigint,
	       coalesce(h.blue, 0)::bigint, coalesce(h.overdue, 0)::bigint, coalesce(h.windows_met, 0)::bigint,
	       coalesce(h.events_opened, 0)::bigint, coalesce(h.events_closed, 0)::bigint,
	       coalesce(h.open_level_1, 0)::bigint, coalesce(h.open_level_2, 0)::bigint,
	       coalesce(h.open_level_3, 0)::bigint, coalesce(h.open_level_4, 0)::bigint,
	       coalesce(h.loop_raised, 0)::bigint, coalesce(h.loop_answered_in_time, 0)::bigint,
	       CASE WHEN h.residents > 0 THEN round(1 - h.overdue::numeric / h.residents, 4) END,
	       CASE WHEN h.loop_raised > 0 THEN round(h.loop_answered_in_time::numeric / h.loop_raised, 4) END
	  FROM sanse.area_day_recorded d
	 CROSS JOIN sanse.area a
	  JOIN sanse.screen_areas() v ON v.id = a.id AND v.exact
	  LEFT JOIN sanse.area_day h ON h.day = d.day AND h.area_id = a.id
	 WHERE d.areas IS NOT NULL AND sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage_history IS 'daily history per area (rolled up) the role may see and recorded local day, as of the day''s end: residents in the programme by tier, overdue, windows met, overdue events opened, closed and open by level, loop events raised and answered in time, coverage rate, response rate (for aggregate-only roles: the days as published by the sweep, cells suppressed)';

ALTER VIEW coverage_history SET (security_barrier = true);


-- 75_sweeps.sql: the sweep publishes (one call, after record_history)


COMMENT ON FUNCTION sweep(timestamptz) IS 'sweep_overdue, sweep_escalations (overdue events and the loop''s clocks), forget_expired, fold_worker_month, then record_history (the daily history) and publish_screen_if_due (the screen aggregate-only roles read), one sweep at a time (an overlapping one skips, with a WARNING, and is counted in sweep_status)';
