-- The supervisor's screen (巡屏) after the replay.
\pset footer off
SET search_path = sanse, public;

\echo
\echo '== Coverage per town (now) =='
SELECT name AS town, residents, red, yellow, blue, overdue_now, window_met,
       to_char(100 * coverage_rate, 'FM990.0') || '%' AS coverage
  FROM coverage WHERE kind IN ('district', 'town') ORDER BY path;

\echo '== Overdue now, by tier and escalation level =='
SELECT tier,
       count(*) FILTER (WHERE level = 1) AS "L1 micro grid",
       count(*) FILTER (WHERE level = 2) AS "L2 general grid",
       count(*) FILTER (WHERE level = 3) AS "L3 total grid",
       count(*) FILTER (WHERE level = 4) AS "L4 task force",
       count(*) AS open_events
  FROM event WHERE status <> 'closed' GROUP BY tier ORDER BY tier DESC;

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
SELECT 'overdue events (网格事件)', (SELECT count(*) FROM event),
       round((SELECT count(*) FROM event) * 365 / span.days), '3,800+ events of all kinds'
  FROM span
UNION ALL
SELECT 'events closed by a visit', (SELECT count(*) FROM event WHERE status = 'closed'),
       round((SELECT count(*) FROM event WHERE status = 'closed') * 365 / span.days), '办结率 100%'
  FROM span;
