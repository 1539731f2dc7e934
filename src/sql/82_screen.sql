-----------------------------------------------------------------------------
-- The screen views clients read (spec 8): each role sees the areas granted
-- to it (every area for superusers and the owner).  An area it sees exactly
-- (read or care) is computed live; an area it sees as aggregates only is
-- read from what the sweep published (77_published.sql, 79_publish.sql):
-- small cells and their complements hidden, so no hidden count can be
-- worked out by arithmetic, and nothing computed from people's rows when the
-- role asks.  Names and paths are the areas' (and workers') as they are now,
-- the counts as published.  Each branch is gated by a one-time filter on the
-- caller, so a role with aggregate access only never executes the live one
-- (nor EXPLAIN ANALYZE shows it run).
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
	  FROM sanse.coverage_subtree c
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
	  FROM sanse.coverage_by_tier_subtree c
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
	  FROM sanse.overdue_events_subtree o
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
	       p.median_time_to_arrive, p.handled, p.closed, p.reopened, p.mean_rating, p.confirmed_solved, p.still_open,
	       p.cancelled
	  FROM sanse.published_loop_metrics p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT l.area_id, l.path, l.name, l.month, l.kind, l.raised, l.answered_in_time, l.response_rate,
	       l.median_time_to_arrive, l.handled, l.closed, l.reopened, l.mean_rating, l.confirmed_solved, l.still_open,
	       l.cancelled
	  FROM sanse.loop_metrics_subtree l
	  JOIN sanse.screen_areas() v ON v.id = l.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
COMMENT ON VIEW loop_metrics IS 'closed loop per area (rolled up) the role may see, month of raising and kind: raised, answered in time, response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open, cancelled (never answered) (for aggregate-only roles: as published by the sweep, cells suppressed, no mean rating)';
