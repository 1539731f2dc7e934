-----------------------------------------------------------------------------
-- The screen's live rows at the cost of what they show (issue 22).  The
-- *_all views (80_views.sql) compute every area at once, then the caller's
-- filter picks some: a town cost what the district costs.  These give the
-- same rows, grouped by the area shown (up) over the areas of its subtree
-- (m), each area's own rows read through its index: a filter on the shown
-- area's path, kind, name or id is a filter on a grouping column, which the
-- planner applies below the aggregation, so one town reads that town's
-- residents and events only.  Every area is in its own subtree, so every
-- area has a row where the *_all views have one.  The screen views' exact
-- branches (82_screen.sql) read these; sanse.publish_screen, which needs
-- every area anyway, reads the *_all views, which compute each row of a
-- subtree once.  test/pgtap/37_screen_subtree.sql compares both.
-----------------------------------------------------------------------------

-- coverage_all, per area shown: the counts of the micro grids of its
-- subtree (area_count_now; an area without residents has a row of zeros).
-- The areas of a subtree are joined two ways, which give the same pairs:
-- by the ancestor's path among the prefixes of the area's (hashed: every
-- area of the province at once) and by path containment (the gist index:
-- one town's areas); each area's counts are summed by a lateral sub-query
-- that reads that area's rows through their indexes.
CREATE OR REPLACE VIEW coverage_subtree AS
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name,
       coalesce(sum(g.residents), 0)::bigint AS residents,
       coalesce(sum(g.red), 0)::bigint AS red,
       coalesce(sum(g.yellow), 0)::bigint AS yellow,
       coalesce(sum(g.blue), 0)::bigint AS blue,
       coalesce(sum(g.overdue_now), 0)::bigint AS overdue_now,
       coalesce(sum(g.window_met), 0)::bigint AS window_met,
       CASE WHEN sum(g.residents) > 0 THEN round(1 - sum(g.overdue_now)::numeric / sum(g.residents), 4) END AS coverage_rate
  FROM sanse.area m
 CROSS JOIN LATERAL generate_series(1, nlevel(m.path)) k(k)
  JOIN sanse.area up ON up.path::text = subpath(m.path, 0, k.k)::text AND up.path @> m.path
  LEFT JOIN LATERAL (
	SELECT sum(c.residents) AS residents,
	       sum(c.residents) FILTER (WHERE c.tier = 'red') AS red,
	       sum(c.residents) FILTER (WHERE c.tier = 'yellow') AS yellow,
	       sum(c.residents) FILTER (WHERE c.tier = 'blue') AS blue,
	       sum(c.overdue_now) AS overdue_now, sum(c.window_met) AS window_met
	  FROM sanse.area_count_now c
	 WHERE c.area_id = m.id) g ON true
 GROUP BY up.id, up.path, up.kind, up.name;
COMMENT ON VIEW coverage_subtree IS 'coverage_all computed per area shown over its subtree, so a filter on the area applies below the aggregation (what the screen view coverage reads)';

-- coverage_by_tier_all, per area shown and tier: a row where its subtree
-- has a resident of the tier in the programme.
CREATE OR REPLACE VIEW coverage_by_tier_subtree AS
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name, g.tier::text AS tier,
       sum(g.residents)::bigint AS residents, sum(g.overdue_now)::bigint AS overdue_now,
       sum(g.window_met)::bigint AS window_met,
       round(1 - sum(g.overdue_now)::numeric / sum(g.residents), 4) AS coverage_rate
  FROM sanse.area m
 CROSS JOIN LATERAL generate_series(1, nlevel(m.path)) k(k)
  JOIN sanse.area up ON up.path::text = subpath(m.path, 0, k.k)::text AND up.path @> m.path
 CROSS JOIN LATERAL (
	SELECT c.tier, sum(c.residents) AS residents, sum(c.overdue_now) AS overdue_now, sum(c.window_met) AS window_met
	  FROM sanse.area_count_now c
	 WHERE c.area_id = m.id
	 GROUP BY c.tier) g
 GROUP BY up.id, up.path, up.kind, up.name, g.tier;
COMMENT ON VIEW coverage_by_tier_subtree IS 'coverage_by_tier_all computed per area shown over its subtree, so a filter on the area applies below the aggregation (what the screen view coverage_by_tier reads)';

-- overdue_events_all, per area shown and month: the overdue events of its
-- subtree, read by area (event_area_due).
CREATE OR REPLACE VIEW overdue_events_subtree AS
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name,
       date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
       count(*) AS opened,
       count(*) FILTER (WHERE e.status = 'closed') AS closed,
       count(*) FILTER (WHERE e.status <> 'closed') AS still_open,
       count(*) FILTER (WHERE e.level = 1) AS reached_level_1,
       count(*) FILTER (WHERE e.level = 2) AS reached_level_2,
       count(*) FILTER (WHERE e.level = 3) AS reached_level_3,
       count(*) FILTER (WHERE e.level = 4) AS reached_level_4,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY e.resolved_at - e.due_at)
           FILTER (WHERE e.status = 'closed') AS median_time_to_close
  FROM sanse.area up
  JOIN sanse.area m ON up.path @> m.path
  JOIN sanse.event e ON e.area_id = m.id
 WHERE e.kind = 'overdue'
 GROUP BY up.id, up.path, up.kind, up.name, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date;
COMMENT ON VIEW overdue_events_subtree IS 'overdue_events_all computed per area shown over its subtree, so a filter on the area applies below the aggregation (what the screen view overdue_events reads)';

-- loop_metrics_all, per area shown, month and kind: the closed loop's
-- events of its subtree, read by area.
CREATE OR REPLACE VIEW loop_metrics_subtree AS
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
  FROM sanse.area up
  JOIN sanse.area m ON up.path @> m.path
 CROSS JOIN LATERAL (
	SELECT e.kind, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
	       e.status, e.rating, e.solved, e.evaluated_by, e.reopened,
	       a.first_arrival - e.due_at AS time_to_arrive,
	       coalesce(a.was_cancelled, false) AS was_cancelled,
	       a.first_arrival < sanse.zone_add(e.due_at, sanse.step_interval(e.kind, e.tier, 'called')) AS in_time,
	       coalesce(a.was_handled, false) AS was_handled
	  FROM sanse.event e
	  -- one pass over the event's transitions (three probes an event cost
	  -- 3.5 s for a province's district, issue 22)
	  LEFT JOIN LATERAL (SELECT min(t.at) FILTER (WHERE t.stage = 'arrived') AS first_arrival,
	                            bool_or(t.stage = 'cancelled') AS was_cancelled,
	                            bool_or(t.stage IN ('handled', 'still_here')) AS was_handled
	                       FROM sanse.event_transition t WHERE t.event_id = e.id) a ON true
	 WHERE e.area_id = m.id AND e.kind <> 'overdue') ev
 GROUP BY up.id, up.path, up.name, ev.month, ev.kind;
COMMENT ON VIEW loop_metrics_subtree IS 'loop_metrics_all computed per area shown over its subtree, so a filter on the area applies below the aggregation (what the screen view loop_metrics reads)';
