-- pgTAP: the screen-patrol views on a hand-built district whose numbers are
-- worked out below from the rules, not read from output.  Not the shared
-- district: coverage lists every area, so this file builds only its own.
BEGIN;
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'Asia/Shanghai';
\ir include/helpers.psql
SELECT plan(22);

SELECT has_view('sanse', 'coverage', 'coverage view');
SELECT has_view('sanse', 'worker_checkin_rate', 'worker_checkin_rate view');
SELECT has_view('sanse', 'overdue_events', 'overdue_events view');
SELECT has_view('sanse', 'grid_daily_report', 'grid_daily_report view');

INSERT INTO area (path, kind, name) VALUES
  ('q', 'district', 'Q'),
  ('q.t1', 'town', 'T1'), ('q.t1.v', 'village', 'V1'), ('q.t1.v.tg', 'total_grid', 'TG1'),
  ('q.t1.v.tg.g', 'general_grid', 'G1'), ('q.t1.v.tg.g.m1', 'micro_grid', 'M1'),
  ('q.t2', 'town', 'T2'), ('q.t2.v', 'village', 'V2'), ('q.t2.v.tg', 'total_grid', 'TG2'),
  ('q.t2.v.tg.g', 'general_grid', 'G2'), ('q.t2.v.tg.g.m2', 'micro_grid', 'M2'),
  ('q.t2.v.tg.g.m3', 'micro_grid', 'M3 (empty)');

-- M1: A red, registered 3 days ago, never visited: overdue.
--     B yellow, visited a minute into this week: met (next window is next week).
-- M2: C blue, registered an hour ago: pending (window is next month).
--     D inactive: not counted.
INSERT INTO resident (area_id, name, factors, registered_at, last_visit_at, active)
SELECT a.id, v.name, v.factors, v.registered_at, v.last_visit_at, v.active
  FROM (VALUES ('q.t1.v.tg.g.m1', 'A', '{accident_risk}'::text[], now() - interval '3 days', NULL::timestamptz, true),
               ('q.t1.v.tg.g.m1', 'B', '{partial_care,unstable_chronic}', now() - interval '30 days',
                (date_trunc('week', now() AT TIME ZONE 'Asia/Shanghai') + interval '1 minute') AT TIME ZONE 'Asia/Shanghai', true),
               ('q.t2.v.tg.g.m2', 'C', '{mobility_impaired}', now() - interval '1 hour', NULL, true),
               ('q.t2.v.tg.g.m2', 'D', '{accident_risk}', now() - interval '9 days', NULL, false)) v(path, name, factors, registered_at, last_visit_at, active)
  JOIN area a ON a.path = v.path::ltree;

-- M1 also has R, red from 2024-03-01 09:00, cared for by volunteer W:
--   visit 03-02 10:00, all nine items: inside [03-01 09:00, 03-03 09:00) -> met (window due 03-03 09:00)
--   visit 03-05 12:00, three items: after due 03-04 10:00 -> late; its event closes at level 4
--     (steps 10:00, 14:00, 18:00, 22:00 on 03-04), 26 hours after the due time
--   no visit in [03-05 12:00, 03-07 12:00): the sweep at 03-08 00:00 opens that event and
--     escalates it to level 4 (12:00, 16:00, 20:00, 00:00)
--   then R leaves the programme (inactive), so it does not count in today's coverage.
INSERT INTO worker (name, force, role, area_id) SELECT 'W', 'volunteer', 'member', id FROM area WHERE path = 'q.t1.v.tg.g.m1';
INSERT INTO worker (name, force, role, area_id) SELECT 'L', 'grid_officer', 'micro_grid_leader', id FROM area WHERE path = 'q.t1.v.tg.g.m1';
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT id, 'R', '{accident_risk}', '2024-03-01 09:00+08' FROM area WHERE path = 'q.t1.v.tg.g.m1';
INSERT INTO carer (resident_id, worker_id) SELECT r.id, w.id FROM resident r, worker w WHERE r.name = 'R' AND w.name = 'W';
DO $$
BEGIN
	PERFORM sanse.check_in(sanse.door_token(r.id), w.id, '2024-03-02 10:00+08', sanse.checklist_items())
	   FROM sanse.resident r, sanse.worker w WHERE r.name = 'R' AND w.name = 'W';
	PERFORM sanse.check_in(sanse.door_token(r.id), w.id, '2024-03-05 12:00+08', '{ask_health,check_gas,clear_passage}')
	   FROM sanse.resident r, sanse.worker w WHERE r.name = 'R' AND w.name = 'W';
	PERFORM sanse.sweep('2024-03-08 00:00+08');
END
$$;
UPDATE resident SET active = false WHERE name = 'R';

SELECT results_eq(
  $$SELECT path::text, residents, red, yellow, blue, overdue_now, window_met, coverage_rate
      FROM sanse.coverage ORDER BY path$$,
  $$VALUES ('q', 3::bigint, 1::bigint, 1::bigint, 1::bigint, 1::bigint, 1::bigint, 0.6667::numeric),
           ('q.t1', 2, 1, 1, 0, 1, 1, 0.5000),
           ('q.t1.v', 2, 1, 1, 0, 1, 1, 0.5000),
           ('q.t1.v.tg', 2, 1, 1, 0, 1, 1, 0.5000),
           ('q.t1.v.tg.g', 2, 1, 1, 0, 1, 1, 0.5000),
           ('q.t1.v.tg.g.m1', 2, 1, 1, 0, 1, 1, 0.5000),
           ('q.t2', 1, 0, 0, 1, 0, 0, 1.0000),
           ('q.t2.v', 1, 0, 0, 1, 0, 0, 1.0000),
           ('q.t2.v.tg', 1, 0, 0, 1, 0, 0, 1.0000),
           ('q.t2.v.tg.g', 1, 0, 0, 1, 0, 0, 1.0000),
           ('q.t2.v.tg.g.m2', 1, 0, 0, 1, 0, 0, 1.0000),
           ('q.t2.v.tg.g.m3', 0, 0, 0, 0, 0, 0, NULL)$$,
  'coverage: every area at every level, rolled up; inactive residents left out');

SELECT results_eq(
  $$SELECT month, windows_due, windows_met, checkin_rate, visits, flagged_visits, checklist_completeness
      FROM sanse.worker_checkin_rate WHERE worker_name = 'W'$$,
  $$VALUES ('2024-03-01'::date, 3::bigint, 1::bigint, 0.3333::numeric, 2::bigint, 1::bigint, 0.6667::numeric)$$,
  'worker_checkin_rate: 1 window met of 3 due in March 2024, 2 visits, 1 flagged, (9 + 3) / 18 of the checklist');
SELECT is((SELECT count(*) FROM sanse.worker_checkin_rate WHERE worker_name = 'L'), 0::bigint,
          'a leader with no residents in care and no visits has no rows');

SELECT results_eq(
  $$SELECT path::text, month, opened, closed, still_open, reached_level_1, reached_level_2, reached_level_3,
           reached_level_4, median_time_to_close
      FROM sanse.overdue_events WHERE path IN ('q', 'q.t1.v.tg.g.m1') ORDER BY path$$,
  $$VALUES ('q', '2024-03-01'::date, 2::bigint, 1::bigint, 1::bigint, 0::bigint, 0::bigint, 0::bigint, 2::bigint, interval '26 hours'),
           ('q.t1.v.tg.g.m1', '2024-03-01', 2, 1, 1, 0, 0, 0, 2, interval '26 hours')$$,
  'overdue_events: per area (rolled up) and month');
SELECT is((SELECT count(*) FROM sanse.overdue_events WHERE path = 'q.t2'), 0::bigint,
          'overdue_events: no rows for an area without events');
SELECT results_eq(
  $$SELECT path::text, opened, closed, still_open FROM sanse.overdue_events
     WHERE month = '2024-03-01' AND kind = 'micro_grid'$$,
  $$VALUES ('q.t1.v.tg.g.m1', 2::bigint, 1::bigint, 1::bigint)$$,
  'overdue_events filtered on a month: that month''s events');
SELECT is_empty($$SELECT * FROM sanse.overdue_events WHERE month IN ('2024-02-01', '2024-04-01')$$,
                'overdue_events: the months around it have none');

SELECT results_eq(
  $$SELECT day, visits, complete_checklists, flagged_visits, events_opened, events_closed
      FROM sanse.grid_daily_report WHERE name = 'M1' ORDER BY day$$,
  $$VALUES ('2024-03-02'::date, 1::bigint, 1::bigint, 0::bigint, 0::bigint, 0::bigint),
           ('2024-03-04', 0, 0, 0, 1, 0),
           ('2024-03-05', 1, 0, 1, 0, 1),
           ('2024-03-07', 0, 0, 0, 1, 0)$$,
  'grid_daily_report: visits, complete checklists, flags, events opened (due day) and closed, per local day');

SELECT results_eq(
  $$SELECT name, visits, complete_checklists, flagged_visits, events_opened, events_closed
      FROM sanse.grid_daily_report WHERE day = '2024-03-05'$$,
  $$VALUES ('M1'::text, 1::bigint, 0::bigint, 1::bigint, 0::bigint, 1::bigint)$$,
  'grid_daily_report filtered on a day: that local day only');
SELECT is_empty(
  $$SELECT * FROM sanse.grid_daily_report WHERE day = '2024-03-03'$$,
  'grid_daily_report: a day with nothing done has no rows');

-- The day filter must become index ranges on the three time columns, not a
-- scan that computes every row's local day: with sequential scans priced
-- out, the plan names the three indexes.
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	line text;
	plan text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		plan := plan || line || E'\n';
	END LOOP;
	RETURN plan;
END
$f$;
SET LOCAL enable_seqscan = off;
SELECT matches(pg_temp.plan_of($$SELECT * FROM sanse.grid_daily_report WHERE day = '2024-03-05'$$),
               '(?s)Index Cond: \(\(at >= .*Index Cond: \(\(due_at >= .*Index Cond: \(.*resolved_at >= ',
               'grid_daily_report: a day filter becomes index ranges on visit.at, event.due_at and resolved_at');
RESET enable_seqscan;

-- Local days as ranges, across both New York DST changes of 2024 (a 23-hour
-- and a 25-hour day): a visit every 20 minutes from local midnight for three
-- days around each, so 3 an hour of each local day.
SET LOCAL sanse.timezone = 'America/New_York';
INSERT INTO visit (resident_id, worker_id, at, area_id)
SELECT r.id, w.id, t, r.area_id
  FROM resident r, worker w,
       generate_series(timestamptz '2024-03-09 00:00-05', '2024-03-11 23:59-04', interval '20 minutes') t
 WHERE r.name = 'R' AND w.name = 'W'
UNION ALL
SELECT r.id, w.id, t, r.area_id
  FROM resident r, worker w,
       generate_series(timestamptz '2024-11-02 00:00-04', '2024-11-04 23:59-05', interval '20 minutes') t
 WHERE r.name = 'R' AND w.name = 'W';
SELECT results_eq(
  $$SELECT day, visits FROM sanse.grid_daily_report
     WHERE name = 'M1' AND (day BETWEEN '2024-03-09' AND '2024-03-11' OR day BETWEEN '2024-11-02' AND '2024-11-04')
     ORDER BY day$$,
  $$VALUES ('2024-03-09'::date, 72::bigint), ('2024-03-10', 69), ('2024-03-11', 72),
           ('2024-11-02', 72), ('2024-11-03', 75), ('2024-11-04', 72)$$,
  'grid_daily_report: in a DST zone a 23-hour day holds 69 visits and a 25-hour day 75');

-- Where clocks go back over midnight the local day starts at the first
-- midnight, which AT TIME ZONE does not return: Atlantic/Azores went from
-- 01:00 back to 00:00 on 2025-10-26, so 00:30 UTC is 00:30 local (summer
-- time) of the 26th.  Havana did the same on 2026-11-01 (04:30 UTC is 00:30
-- local, first time round), the first of a month.
SET LOCAL sanse.timezone = 'Atlantic/Azores';
INSERT INTO visit (resident_id, worker_id, at, area_id)
SELECT r.id, w.id, '2025-10-26 00:30+00', r.area_id FROM resident r, worker w WHERE r.name = 'R' AND w.name = 'W';
INSERT INTO event (resident_id, area_id, tier, due_at, level_since, next_step_at)
SELECT r.id, r.area_id, 'red', '2025-10-26 00:40+00', '2025-10-26 00:40+00', '2025-10-26 04:40+00'
  FROM resident r WHERE r.name = 'R';
SELECT results_eq(
  $$SELECT day, visits, events_opened FROM sanse.grid_daily_report WHERE name = 'M1' AND day BETWEEN '2025-10-25' AND '2025-10-27'$$,
  $$VALUES ('2025-10-26'::date, 1::bigint, 1::bigint)$$,
  'grid_daily_report: the first hour of a day that starts twice (Azores, 2025-10-26) is on that day');
SET LOCAL sanse.timezone = 'America/Havana';
INSERT INTO event (resident_id, area_id, tier, due_at, level_since, next_step_at)
SELECT r.id, r.area_id, 'red', '2026-11-01 04:30+00', '2026-11-01 04:30+00', '2026-11-01 08:30+00'
  FROM resident r WHERE r.name = 'R';
SELECT results_eq(
  $$SELECT month, opened FROM sanse.overdue_events WHERE path = 'q' AND month >= '2026-10-01'$$,
  $$VALUES ('2026-11-01'::date, 1::bigint)$$,
  'overdue_events: due in the first hour of a month that starts twice (Havana, 2026-11-01) is in that month');
RESET sanse.timezone;

-- Days are stepped as dates, not in the client's TimeZone: Samoa skipped
-- 2011-12-30, Shanghai did not.
INSERT INTO visit (resident_id, worker_id, at, area_id)
SELECT r.id, w.id, t, r.area_id
  FROM resident r, worker w, unnest(ARRAY[timestamptz '2011-12-29 12:00+08', '2011-12-30 12:00+08', '2011-12-31 12:00+08']) t
 WHERE r.name = 'R' AND w.name = 'W';
SET LOCAL TimeZone = 'Pacific/Apia';
SELECT results_eq(
  $$SELECT day, visits FROM sanse.grid_daily_report WHERE name = 'M1' AND day BETWEEN '2011-12-28' AND '2012-01-01' ORDER BY day$$,
  $$VALUES ('2011-12-29'::date, 1::bigint), ('2011-12-30', 1), ('2011-12-31', 1)$$,
  'grid_daily_report: a date the client''s zone skipped is still a day in sanse.timezone');
SET LOCAL TimeZone = 'Asia/Shanghai';

-- Written directly (check_in cannot): a closing earlier than any visit or
-- due time still has its day, and an infinite time neither hangs the report
-- nor becomes a day.
INSERT INTO event (resident_id, area_id, tier, due_at, level_since, status, resolved_at)
SELECT r.id, r.area_id, 'red', '2010-03-10 09:00+08', '2010-03-10 09:00+08', 'closed', '2010-03-01 09:00+08'
  FROM resident r WHERE r.name = 'R';
INSERT INTO visit (resident_id, worker_id, at, area_id)
SELECT r.id, w.id, 'infinity', r.area_id FROM resident r, worker w WHERE r.name = 'R' AND w.name = 'W';
SET LOCAL statement_timeout = '20s';
SELECT results_eq(
  $$SELECT day, events_opened, events_closed FROM sanse.grid_daily_report WHERE name = 'M1' AND day < '2011-01-01'$$,
  $$VALUES ('2010-03-01'::date, 0::bigint, 1::bigint), ('2010-03-10', 1, 0)$$,
  'grid_daily_report: days reach back to the earliest closing');
SELECT is((SELECT count(*) FROM sanse.grid_daily_report WHERE name = 'M1' AND day > '2100-01-01'), 0::bigint,
          'grid_daily_report: a visit at infinity has no day and does not stretch the days walked');
RESET statement_timeout;

SELECT results_eq(
  $$SELECT sanse.visit_status(r.next_visit, r.last_visit_at, p.cadence)
      FROM sanse.resident r JOIN sanse.tier_policy p ON p.tier = r.tier
     WHERE r.name IN ('A', 'B', 'C', 'D') ORDER BY r.name$$,
  $$VALUES ('overdue'::text), ('met'), ('pending'), (NULL)$$,
  'visit_status: overdue, met, pending, and NULL out of the programme');

SELECT * FROM finish();
ROLLBACK;
