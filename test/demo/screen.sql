-- The supervisor's screen (巡屏) after the replay.
\pset footer off
SET search_path = sanse, public;

\echo
\echo '== Coverage per town (now) =='
SELECT name AS town, residents, red, yellow, blue, overdue_now, window_met,
       to_char(100 * coverage_rate, 'FM990.0') || '%' AS coverage
  FROM coverage WHERE kind IN ('district', 'town') ORDER BY path;

\echo '== Dynamic adjustment (动态调整): tier changes the departments'' lists made (sanse.tier_history) =='
SELECT h.reason AS list, coalesce(h.old_tier::text, '-') AS "from", coalesce(h.new_tier::text, '-') AS "to",
       count(*) AS residents
  FROM tier_history h WHERE h.reason LIKE 'feed %'
 GROUP BY 1, 2, 3 ORDER BY min(h.id), 2, 3;

\echo '== Overdue now, by tier and escalation level =='
SELECT tier,
       count(*) FILTER (WHERE level = 1) AS "L1 micro grid",
       count(*) FILTER (WHERE level = 2) AS "L2 general grid",
       count(*) FILTER (WHERE level = 3) AS "L3 total grid",
       count(*) FILTER (WHERE level = 4) AS "L4 task force",
       count(*) AS open_events
  FROM event WHERE kind = 'overdue' AND status <> 'closed' GROUP BY tier ORDER BY tier DESC;

\echo '== Check-in rate (打卡率) of carers, last full month =='
WITH m AS (SELECT max(month) FILTER (WHERE month < date_trunc('month', max_at)) AS month
             FROM worker_checkin_rate,
                  (SELECT max(at AT TIME ZONE current_zone()) AS max_at FROM visit) x)
SELECT to_char(m.month, 'YYYY-MM') AS month,
       CASE WHEN checkin_rate = 1 THEN '100%' WHEN checkin_rate >= 0.95 THEN '95-99%'
            WHEN checkin_rate >= 0.9 THEN '90-94%' WHEN checkin_rate >= 0.8 THEN '80-89%' ELSE '< 80%' END AS rate,
       count(*) AS workers
  FROM worker_checkin_rate w JOIN m ON w.month = m.month
 WHERE windows_due > 0
 GROUP BY 1, 2, (CASE WHEN checkin_rate = 1 THEN 0 WHEN checkin_rate >= 0.95 THEN 1
                      WHEN checkin_rate >= 0.9 THEN 2 WHEN checkin_rate >= 0.8 THEN 3 ELSE 4 END)
 ORDER BY (CASE WHEN checkin_rate = 1 THEN 0 WHEN checkin_rate >= 0.95 THEN 1
                WHEN checkin_rate >= 0.9 THEN 2 WHEN checkin_rate >= 0.8 THEN 3 ELSE 4 END);

\echo '== The ten worst micro grids (missed windows over the replay, then overdue now) =='
SELECT c.path, c.residents, c.overdue_now, coalesce(e.missed, 0) AS missed_windows,
       coalesce(e.reached_l4, 0) AS reached_task_force
  FROM coverage c
  LEFT JOIN (SELECT area_id, sum(opened) AS missed, sum(reached_level_4) AS reached_l4
               FROM overdue_events WHERE kind = 'micro_grid' GROUP BY area_id) e ON e.area_id = c.area_id
 WHERE c.kind = 'micro_grid' AND c.residents > 0
 ORDER BY missed_windows DESC, c.overdue_now DESC, c.path
 LIMIT 10;

\echo '== Year-scale totals (replay extrapolated to 365 days) vs the paper =='
WITH span AS (SELECT extract(epoch FROM max(at) - min(at)) / 86400 AS days FROM visit)
SELECT 'visits (入户服务人次)' AS measure,
       (SELECT count(*) FROM visit) AS in_replay,
       round((SELECT count(*) FROM visit) * 365 / span.days) AS per_year,
       '39,000 (3.9万)' AS paper
  FROM span
UNION ALL
SELECT 'overdue events (missed windows)', (SELECT count(*) FROM event WHERE kind = 'overdue'),
       round((SELECT count(*) FROM event WHERE kind = 'overdue') * 365 / span.days), ''
  FROM span
UNION ALL
SELECT 'overdue events closed by a visit', (SELECT count(*) FROM event WHERE kind = 'overdue' AND status = 'closed'),
       round((SELECT count(*) FROM event WHERE kind = 'overdue' AND status = 'closed') * 365 / span.days), '办结率 100%'
  FROM span
UNION ALL
SELECT 'events of all kinds (网格事件)', (SELECT count(*) FROM event),
       round((SELECT count(*) FROM event) * 365 / span.days), '3,800+'
  FROM span;

\echo '== The closed loop (闭环处置): district, by month raised and kind (sanse.loop_metrics) =='
SELECT to_char(m.month, 'YYYY-MM') AS month, m.kind, m.raised, m.answered_in_time AS in_time,
       to_char(100 * m.response_rate, 'FM990.0') || '%' AS response_rate,
       to_char(m.median_time_to_arrive, 'HH24"h"MI"m"SS"s"') AS median_arrival,
       m.handled, m.closed, to_char(100.0 * m.closed / m.raised, 'FM990.0') || '%' AS "办结率",
       m.reopened, m.mean_rating, m.still_open
  FROM loop_metrics m JOIN area a ON a.id = m.area_id AND a.kind = 'district'
 ORDER BY m.month, m.kind;

\echo '== The closed loop over the replay vs the paper (district rows of sanse.loop_metrics) =='
WITH m AS (SELECT m.* FROM loop_metrics m JOIN area a ON a.id = m.area_id AND a.kind = 'district'),
     w AS (SELECT * FROM m WHERE kind = 'warning' AND raised >= 20),	-- months with enough warnings to count
     span AS (SELECT extract(epoch FROM max(at) - min(at)) / 86400 AS days FROM visit)
SELECT 'warnings for red-tier residents (per year)' AS measure,
       (SELECT count(*) FROM event WHERE kind = 'warning' AND tier = 'red')::text AS replay,
       round((SELECT count(*) FROM event WHERE kind = 'warning' AND tier = 'red') * 365 / span.days)::text AS per_year,
       '586 emergency health warnings in a year' AS paper
  FROM span
UNION ALL
SELECT 'warnings answered within 15 minutes (response rate)',
       (SELECT sum(answered_in_time) || ' of ' || sum(raised) FROM m WHERE kind = 'warning'),
       (SELECT to_char(100.0 * sum(answered_in_time) / sum(raised), 'FM990.0') || '%' FROM m WHERE kind = 'warning'),
       '98% (15-minute response circle)'
UNION ALL
SELECT 'median time to arrive at a warning, by month',
       (SELECT to_char(min(median_time_to_arrive), 'MI"m"SS"s"') || ' to ' || to_char(max(median_time_to_arrive), 'MI"m"SS"s"') FROM w),
       '', 'within 15 minutes'
UNION ALL
SELECT 'all loop events answered in time (response rate)',
       (SELECT sum(answered_in_time) || ' of ' || sum(raised) FROM m),
       (SELECT to_char(100.0 * sum(answered_in_time) / sum(raised), 'FM990.0') || '%' FROM m), ''
UNION ALL
SELECT 'closure rate (办结率 = closed / raised)',
       (SELECT sum(closed) || ' of ' || sum(raised) FROM m),
       (SELECT to_char(100.0 * sum(closed) / sum(raised), 'FM990.0') || '%' FROM m), '100%'
UNION ALL
SELECT 'reopened by a low rating or "not solved"',
       (SELECT sum(reopened)::text FROM m),
       (SELECT to_char(100.0 * sum(reopened) / sum(raised), 'FM990.0') || '%' FROM m), ''
UNION ALL
SELECT 'mean rating (1-5) of warnings, by month',
       (SELECT min(mean_rating) || ' to ' || max(mean_rating) FROM w), '', ''
UNION ALL
SELECT 'matters whistled to departments (网格吹哨, per year)',
       (SELECT count(*) FROM event WHERE parent_id IS NOT NULL)::text,
       round((SELECT count(*) FROM event WHERE parent_id IS NOT NULL) * 365 / span.days)::text,
       '3,200 solved across departments'
  FROM span;

\echo '== Open loop events at the end of the replay, by kind and stage (sanse.open_events) =='
SELECT kind, stage, count(*) AS events, max(level) AS highest_level,
       count(*) FILTER (WHERE parent_id IS NOT NULL) AS whistled,
       date_trunc('minute', max(age)) AS oldest
  FROM open_events WHERE kind <> 'overdue'
 GROUP BY kind, stage
 ORDER BY kind, array_position(ARRAY['called', 'arrived', 'handled', 'fed_back'], stage);

\echo '== The five most loaded workers (sanse.worker_load) =='
SELECT worker_name, role, red, yellow, blue, visits_per_week, open_overdue, open_loop, highest_level, handled_this_month
  FROM worker_load
 ORDER BY open_overdue + open_loop DESC, visits_per_week DESC, worker_id
 LIMIT 5;
