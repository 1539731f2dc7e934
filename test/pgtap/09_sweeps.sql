-- pgTAP: overdue sweeps and the three-level backup (spec 5) — one event per
-- missed window, escalation at logical times per tier and in sanse.timezone,
-- NULL assignees kept, level 4 the last; and the timing invariance: the same
-- events, levels and step times whether sweeps run hourly, every 6 hours,
-- daily or once at the end.
BEGIN;
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'America/Los_Angeles';	-- the client's zone must not matter
\ir include/helpers.psql
SELECT plan(59);

SELECT has_function('sanse', 'sweep_overdue', ARRAY['timestamp with time zone'], 'sweep_overdue(at)');
SELECT has_function('sanse', 'sweep_escalations', ARRAY['timestamp with time zone'], 'sweep_escalations(at)');
SELECT has_function('sanse', 'sweep', ARRAY['timestamp with time zone'], 'sweep(at)');
SELECT function_returns('sanse', 'sweep_overdue', ARRAY['timestamp with time zone'], 'integer', 'sweep_overdue returns integer');
SELECT function_returns('sanse', 'sweep_escalations', ARRAY['timestamp with time zone'], 'integer', 'sweep_escalations returns integer');

-----------------------------------------------------------------------------
-- Part 1: a district of its own (not the shared one: sweeps and these
-- checks see every event, and this shape has leaders missing at some levels).
--   S > T > V > TG1 > G1 > M1 (leader; an inactive leader with a lower id), M2 (no leader)
--                    > G2 (no leader) > M3 (leader)
--              > TG2 (no leader) > G3 (leader) > M4 (leader)
-----------------------------------------------------------------------------
INSERT INTO area (path, kind, name) VALUES
  ('s', 'district', 'S'), ('s.t', 'town', 'ST'), ('s.t.v', 'village', 'SV'),
  ('s.t.v.tg1', 'total_grid', 'TG1'), ('s.t.v.tg1.g1', 'general_grid', 'G1'),
  ('s.t.v.tg1.g1.m1', 'micro_grid', 'M1'), ('s.t.v.tg1.g1.m2', 'micro_grid', 'M2'),
  ('s.t.v.tg1.g2', 'general_grid', 'G2'), ('s.t.v.tg1.g2.m3', 'micro_grid', 'M3'),
  ('s.t.v.tg2', 'total_grid', 'TG2'), ('s.t.v.tg2.g3', 'general_grid', 'G3'), ('s.t.v.tg2.g3.m4', 'micro_grid', 'M4');
-- (ORDER BY: ids in this order, so 'lead m1' and 'task force' are the lowest-id active leaders)
INSERT INTO worker (name, force, role, area_id, active)
SELECT v.name, v.force, v.role, a.id, v.active
  FROM (VALUES (1, 'former lead m1', 'grid_officer', 'micro_grid_leader', 's.t.v.tg1.g1.m1', false),
               (2, 'lead m1', 'grid_officer', 'micro_grid_leader', 's.t.v.tg1.g1.m1', true),
               (3, 'second lead m1', 'grid_officer', 'micro_grid_leader', 's.t.v.tg1.g1.m1', true),
               (4, 'lead m3', 'grid_officer', 'micro_grid_leader', 's.t.v.tg1.g2.m3', true),
               (5, 'lead m4', 'grid_officer', 'micro_grid_leader', 's.t.v.tg2.g3.m4', true),
               (6, 'lead g1', 'community_cadre', 'general_grid_leader', 's.t.v.tg1.g1', true),
               (7, 'lead g3', 'community_cadre', 'general_grid_leader', 's.t.v.tg2.g3', true),
               (8, 'lead tg1', 'community_cadre', 'total_grid_leader', 's.t.v.tg1', true),
               (9, 'task force', 'department_staff', 'task_force', 's', true),
               (10, 'second task force', 'department_staff', 'task_force', 's', true)) v(ord, name, force, role, path, active)
  JOIN area a ON a.path = v.path::ltree
 ORDER BY v.ord;
INSERT INTO resident (area_id, name, factors, registered_at, active)
SELECT a.id, v.name, v.f, v.reg::timestamptz, v.active
  FROM (VALUES ('red m1', '{accident_risk}'::text[], 's.t.v.tg1.g1.m1', '2024-03-01 00:00+08', true),
               ('red m2', '{accident_risk}', 's.t.v.tg1.g1.m2', '2024-03-01 00:00+08', true),
               ('red m3', '{accident_risk}', 's.t.v.tg1.g2.m3', '2024-03-01 00:00+08', true),
               ('red m4', '{accident_risk}', 's.t.v.tg2.g3.m4', '2024-03-01 00:00+08', true),
               ('yellow m1', '{partial_care,mobility_impaired}', 's.t.v.tg1.g1.m1', '2024-03-01 00:00+08', true),
               ('blue m1', '{self_care_difficulty}', 's.t.v.tg1.g1.m1', '2024-01-15 00:00+08', true),
               ('inactive red', '{accident_risk}', 's.t.v.tg1.g1.m1', '2024-03-01 00:00+08', false),
               ('not in the programme', '{}', 's.t.v.tg1.g1.m1', '2024-03-01 00:00+08', true)) v(name, f, path, reg, active)
  JOIN area a ON a.path = v.path::ltree;

-- blue m1 (registered in January) is due 03-01 00:00+08; the reds 03-03 00:00+08; yellow 03-11 00:00+08
SELECT is(sweep_overdue('2024-02-29 23:59:59.999999+08'), 0, 'nothing is due before the first due time');
SELECT is(sweep_overdue('2024-03-01 00:00+08'), 1, 'at exactly its due time the blue window is missed');
SELECT is(sweep_overdue('2024-03-02 23:59:59.999999+08'), 0, 'nothing more until the reds are due');
SELECT is(sweep_overdue('2024-03-03 00:00+08'), 4, 'the four red windows at their due time');
SELECT is(sweep_overdue('2024-03-03 00:00+08'), 0, 'a second sweep at the same time opens nothing');
SELECT is(sweep_overdue('2024-03-10 23:00+08'), 0, 'nor a later one, while no other window is due');
SELECT results_eq($$SELECT r.name, e.kind, e.status, e.level, e.assignee_id, e.due_at, e.level_since, e.resolved_at, e.visit_id
                      FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id ORDER BY r.name$$,
                  $$VALUES ('blue m1'::text, 'overdue'::text, 'open'::text, 1::smallint, pg_temp.worker_id('lead m1'), '2024-03-01 00:00+08'::timestamptz,
                            '2024-03-01 00:00+08'::timestamptz, NULL::timestamptz, NULL::bigint),
                           ('red m1', 'overdue', 'open', 1::smallint, pg_temp.worker_id('lead m1'), '2024-03-03 00:00+08', '2024-03-03 00:00+08', NULL, NULL),
                           ('red m2', 'overdue', 'open', 1::smallint, NULL, '2024-03-03 00:00+08', '2024-03-03 00:00+08', NULL, NULL),
                           ('red m3', 'overdue', 'open', 1::smallint, pg_temp.worker_id('lead m3'), '2024-03-03 00:00+08', '2024-03-03 00:00+08', NULL, NULL),
                           ('red m4', 'overdue', 'open', 1::smallint, pg_temp.worker_id('lead m4'), '2024-03-03 00:00+08', '2024-03-03 00:00+08', NULL, NULL)$$,
                  'one open level-1 overdue event per missed window, for the lowest-id active micro grid leader (NULL if none), since its due time');
SELECT results_eq($$SELECT r.name, s.level, s.assignee_id, s.at FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                      JOIN sanse.resident r ON r.id = e.resident_id ORDER BY r.name$$,
                  $$VALUES ('blue m1'::text, 1::smallint, pg_temp.worker_id('lead m1'), '2024-03-01 00:00+08'::timestamptz),
                           ('red m1', 1::smallint, pg_temp.worker_id('lead m1'), '2024-03-03 00:00+08'),
                           ('red m2', 1::smallint, NULL, '2024-03-03 00:00+08'),
                           ('red m3', 1::smallint, pg_temp.worker_id('lead m3'), '2024-03-03 00:00+08'),
                           ('red m4', 1::smallint, pg_temp.worker_id('lead m4'), '2024-03-03 00:00+08')$$,
                  'each opening is kept as step 1 (a missing leader as a NULL assignee)');
SELECT is((SELECT count(*) FROM event e JOIN resident r ON r.id = e.resident_id
            WHERE r.name IN ('inactive red', 'not in the programme')), 0::bigint,
          'inactive residents and residents without a tier have no events');

-- red: a step every 4 hours
SELECT is(sweep_escalations('2024-03-03 03:59:59.999999+08'), 0, 'red: no step one microsecond before due + 4 h');
SELECT is(sweep_escalations('2024-03-03 04:00+08'), 4, 'red: level 2 at exactly due + 4 h');
SELECT is(sweep_escalations('2024-03-03 23:00+08'), 8, 'a late sweep applies both remaining red steps at once');
SELECT results_eq($$SELECT s.level, s.assignee_id, s.at FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                      WHERE e.resident_id = pg_temp.resident_id('red m1') ORDER BY s.level$$,
                  $$VALUES (1::smallint, pg_temp.worker_id('lead m1'), '2024-03-03 00:00+08'::timestamptz),
                           (2::smallint, pg_temp.worker_id('lead g1'), '2024-03-03 04:00+08'::timestamptz),
                           (3::smallint, pg_temp.worker_id('lead tg1'), '2024-03-03 08:00+08'::timestamptz),
                           (4::smallint, pg_temp.worker_id('task force'), '2024-03-03 12:00+08'::timestamptz)$$,
                  'red steps at due, +4 h, +8 h, +12 h: micro grid, general grid, total grid leader, task force (lowest id)');
SELECT results_eq($$SELECT s.level, s.assignee_id FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                      WHERE e.resident_id = pg_temp.resident_id('red m3') ORDER BY s.level$$,
                  $$VALUES (1::smallint, pg_temp.worker_id('lead m3')), (2::smallint, NULL::bigint), (3::smallint, pg_temp.worker_id('lead tg1')),
                           (4::smallint, pg_temp.worker_id('task force'))$$,
                  'a general grid without a leader: step 2 kept with a NULL assignee, then on up');
SELECT results_eq($$SELECT s.level, s.assignee_id FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                      WHERE e.resident_id = pg_temp.resident_id('red m4') ORDER BY s.level$$,
                  $$VALUES (1::smallint, pg_temp.worker_id('lead m4')), (2::smallint, pg_temp.worker_id('lead g3')), (3::smallint, NULL::bigint),
                           (4::smallint, pg_temp.worker_id('task force'))$$,
                  'a total grid without a leader: step 3 kept with a NULL assignee');
SELECT results_eq($$SELECT level, level_since, assignee_id FROM sanse.event WHERE resident_id = pg_temp.resident_id('red m2')$$,
                  $$VALUES (4::smallint, '2024-03-03 12:00+08'::timestamptz, pg_temp.worker_id('task force'))$$,
                  'the event carries its current level, the logical time it was reached and its assignee');
SELECT is((SELECT level FROM event WHERE resident_id = pg_temp.resident_id('blue m1')), 1::smallint, 'blue is still at level 1 (3 days per step)');

-- sweep() runs both; the yellow window (due Monday 03-11 00:00+08) opens, blue climbs 03-04, 03-07, 03-10
SELECT results_eq($$SELECT overdue_opened, escalations, skipped FROM sanse.sweep('2024-03-11 00:00+08')$$,
                  $$VALUES (1, 3, false)$$, 'sweep(at) opens the yellow window and applies the three blue steps, not skipped');
SELECT results_eq($$SELECT s.level, s.at FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                      WHERE e.resident_id = pg_temp.resident_id('blue m1') ORDER BY s.level$$,
                  $$VALUES (1::smallint, '2024-03-01 00:00+08'::timestamptz), (2::smallint, '2024-03-04 00:00+08'),
                           (3::smallint, '2024-03-07 00:00+08'), (4::smallint, '2024-03-10 00:00+08')$$,
                  'blue steps three days apart');
-- yellow: one day per step, days in Asia/Shanghai (the session is in Los Angeles)
SELECT is(sweep_escalations('2024-03-11 23:59:59.999999+08'), 0, 'yellow: no step before the next Shanghai midnight');
SELECT is(sweep_escalations('2024-03-12 00:00+08'), 1, 'yellow: level 2 at the Shanghai midnight a day after due');
SELECT is(sweep_escalations('2024-03-14 00:00+08'), 2, 'then levels 3 and 4');
SELECT results_eq($$SELECT s.level, s.assignee_id, s.at FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                      WHERE e.resident_id = pg_temp.resident_id('yellow m1') ORDER BY s.level$$,
                  $$VALUES (1::smallint, pg_temp.worker_id('lead m1'), '2024-03-11 00:00+08'::timestamptz),
                           (2::smallint, pg_temp.worker_id('lead g1'), '2024-03-12 00:00+08'::timestamptz),
                           (3::smallint, pg_temp.worker_id('lead tg1'), '2024-03-13 00:00+08'::timestamptz),
                           (4::smallint, pg_temp.worker_id('task force'), '2024-03-14 00:00+08'::timestamptz)$$,
                  'yellow steps at Asia/Shanghai midnights (16:00 UTC), one day apart');
-- level 4 is the last
SELECT is(sweep_escalations('2025-06-01 00:00+08'), 0, 'nothing climbs past level 4');
SELECT results_eq($$SELECT max(level), count(*) FILTER (WHERE level = 4) FROM sanse.event$$,
                  $$VALUES (4::smallint, 6::bigint)$$, 'all six events stop at level 4');
SELECT results_eq($$SELECT count(*), max(level) FROM sanse.event_step$$, $$VALUES (24::bigint, 4::smallint)$$,
                  'four steps per event, none beyond level 4');
SELECT is(sweep_overdue('2025-06-01 00:00+08'), 0, 'the windows stay missed once: no second event for them');
SELECT results_eq($$SELECT overdue_opened, escalations, skipped FROM sanse.sweep('2000-01-01 00:00+00')$$,
                  $$VALUES (0, 0, false)$$, 'a sweep at a time when nothing is due returns (0, 0, false)');
SELECT results_eq($$SELECT overdue_opened, escalations, skipped FROM sanse.sweep('2025-06-01 00:00+08')$$,
                  $$VALUES (0, 0, false)$$, 'and so does a sweep with nothing new to do');

-- the zone is sanse.timezone: in New York, a blue window due 2024-11-01 00:00 EDT steps to
-- 11-04 00:00 EST (73 hours later, across the end of daylight saving time)
SET LOCAL sanse.timezone = 'America/New_York';
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT id, 'blue new york', '{self_care_difficulty}', '2024-09-15 12:00-04' FROM area WHERE name = 'M1';
SELECT is((SELECT next_visit FROM resident WHERE name = 'blue new york'),
          sanse.visit_window('2024-10-01 00:00-04', '2024-11-01 00:00-04'), 'in New York the window is the New York month');
SELECT is(sweep('2024-11-20 00:00-05') IS NOT NULL, true, 'sweep in New York');
SELECT results_eq($$SELECT s.level, s.at FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                      WHERE e.resident_id = pg_temp.resident_id('blue new york') ORDER BY s.level$$,
                  $$VALUES (1::smallint, '2024-11-01 00:00-04'::timestamptz), (2::smallint, '2024-11-04 00:00-05'),
                           (3::smallint, '2024-11-07 00:00-05'), (4::smallint, '2024-11-10 00:00-05')$$,
                  'escalation days are New York days: the first step is 73 hours');
RESET sanse.timezone;

-- pg_cron: without it in this database, 55000 with a hint
SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron')
            THEN skip('pg_cron is installed in this database', 4)
            ELSE collect_tap(
                throws_ok($$SELECT sanse.schedule_sweeps()$$, '55000', NULL, 'schedule_sweeps without pg_cron is 55000'),
                ok((SELECT hint LIKE '%cron.schedule_in_database(%' || current_database() || '%' FROM pg_temp.error_of('SELECT sanse.schedule_sweeps(''*/5 * * * *'')')),
                   'with a hint giving the cron.schedule_in_database call for this database'),
                throws_ok($$SELECT sanse.unschedule_sweeps()$$, '55000', NULL, 'unschedule_sweeps without pg_cron is 55000'),
                ok((SELECT hint <> '' FROM pg_temp.error_of('SELECT sanse.unschedule_sweeps()')), 'with a hint'))
       END;

-----------------------------------------------------------------------------
-- Part 2: THE TIMING INVARIANCE.  A district of 30 residents (10 red, 10
-- yellow, 10 blue) in four micro grids — one without a micro grid leader,
-- one under a general grid without a leader — and a deterministic script of
-- check-ins from 2024-03-01 to 03-24 (on time, late by various amounts,
-- exactly at due and at step times, repeats, and never).  Replayed four
-- times, each undone afterwards: sweeping every hour, every 6 hours, every
-- day, and only once at the end.
-----------------------------------------------------------------------------
INSERT INTO area (path, kind, name) VALUES
  ('iv', 'district', 'IV'), ('iv.t', 'town', 'IT'), ('iv.t.v', 'village', 'IVV'), ('iv.t.v.tg', 'total_grid', 'ITG'),
  ('iv.t.v.tg.g', 'general_grid', 'IG'), ('iv.t.v.tg.g.m1', 'micro_grid', 'IM1'), ('iv.t.v.tg.g.m2', 'micro_grid', 'IM2'),
  ('iv.t.v.tg.g.m3', 'micro_grid', 'IM3'), ('iv.t.v.tg.g2', 'general_grid', 'IG2'), ('iv.t.v.tg.g2.m4', 'micro_grid', 'IM4');
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, v.force, v.role, a.id
  FROM (VALUES ('iv lead m1', 'grid_officer', 'micro_grid_leader', 'iv.t.v.tg.g.m1'),
               ('iv lead m2', 'grid_officer', 'micro_grid_leader', 'iv.t.v.tg.g.m2'),
               ('iv lead m4', 'grid_officer', 'micro_grid_leader', 'iv.t.v.tg.g2.m4'),
               ('iv lead g', 'community_cadre', 'general_grid_leader', 'iv.t.v.tg.g'),
               ('iv lead tg', 'community_cadre', 'total_grid_leader', 'iv.t.v.tg'),
               ('iv task force', 'department_staff', 'task_force', 'iv')) v(name, force, role, path)
  JOIN area a ON a.path = v.path::ltree;
INSERT INTO worker (name, force, role, area_id)
SELECT f || ' im' || m, f, 'member', a.id
  FROM generate_series(1, 4) m CROSS JOIN unnest(ARRAY['volunteer', 'grid_officer']) f
  JOIN area a ON a.name = 'IM' || m;

-- resident k: tier red (k % 3 = 1), yellow (2), blue (0); micro grid IM((k-1) % 4 + 1);
-- pattern p = ((k-1)/3) % 5: 0 never visited, 1 on time, 2 late, 3 exact boundaries, 4 repeats
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'k' || k,
       CASE k % 3 WHEN 1 THEN '{accident_risk}'::text[] WHEN 2 THEN '{partial_care,unstable_chronic}' ELSE '{self_care_difficulty}' END,
       CASE k % 3
         WHEN 1 THEN timestamptz '2024-03-03 00:00+08' + k * interval '5 hours'	-- red: due 2 days later
         WHEN 2 THEN CASE WHEN k % 2 = 0 THEN timestamptz '2024-02-28 10:00+08'	-- yellow: due Mon 03-11
                          ELSE timestamptz '2024-03-06 10:00+08' END			-- or Mon 03-18
         ELSE CASE WHEN k % 2 = 1 THEN timestamptz '2024-01-20 10:00+08'		-- blue: due 03-01
                   ELSE timestamptz '2024-02-10 10:00+08' END					-- or 04-01
       END
  FROM generate_series(1, 30) k
  JOIN area a ON a.name = 'IM' || ((k - 1) % 4 + 1);
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r JOIN worker w ON w.area_id = r.area_id AND w.role = 'member'
 WHERE r.name ~ '^k\d+$';

-- the script: (at, resident, worker); the i-th visit of a resident is by its volunteer
-- (odd i) or grid officer (even i), and the 2nd visit of pattern 4 by the total grid leader
CREATE TEMP TABLE script AS
WITH res AS (
	SELECT r.id, r.registered_at AS reg, substr(r.name, 2)::int AS k, r.area_id
	  FROM sanse.resident r WHERE r.name ~ '^k\d+$'),
red AS (	-- gaps in hours after the previous visit (or registration); the window is 48 h
	SELECT res.id, res.k, res.area_id,
	       res.reg + sum(g.h) OVER (PARTITION BY res.id ORDER BY g.i) * interval '1 hour' AS at, g.i
	  FROM res
	  JOIN (VALUES (1, ARRAY[40, 44, 46, 40, 47, 45, 43, 42, 41, 44]::float8[]),
	               (2, ARRAY[50, 57, 48, 61, 52]::float8[]),		-- 2 h late, 9 h, exactly due, 13 h, exactly due + 4 h
	               (3, ARRAY[30, 49, 47, 56, 60, 48]::float8[]),
	               (4, ARRAY[20, 0.25, 70, 44]::float8[])) p(pattern, gaps) ON p.pattern = ((res.k - 1) / 3) % 5
	 CROSS JOIN LATERAL unnest(p.gaps) WITH ORDINALITY g(h, i)
	 WHERE res.k % 3 = 1),
other AS (	-- yellow and blue: fixed times (+ k minutes)
	SELECT res.id, res.k, res.area_id, t.at + CASE WHEN t.exact THEN interval '0' ELSE res.k * interval '1 minute' END AS at, t.i
	  FROM res
	  JOIN (VALUES
	    -- yellow
	    (2, 1, 1, timestamptz '2024-03-06 10:00+08', false), (2, 1, 2, '2024-03-13 10:00+08', false), (2, 1, 3, '2024-03-20 10:00+08', false),
	    (2, 2, 1, '2024-03-12 15:00+08', false), (2, 2, 2, '2024-03-21 09:00+08', false),
	    (2, 3, 1, '2024-03-14 00:00+08', true), (2, 3, 2, '2024-03-19 08:00+08', false),
	    (2, 4, 1, '2024-03-05 10:00+08', false), (2, 4, 2, '2024-03-05 10:20+08', false), (2, 4, 3, '2024-03-20 10:00+08', false),
	    -- blue
	    (0, 1, 1, '2024-03-15 10:00+08', false),
	    (0, 2, 1, '2024-03-06 10:00+08', false),
	    (0, 3, 1, '2024-03-10 00:00+08', true),
	    (0, 4, 1, '2024-03-05 12:00+08', false), (0, 4, 2, '2024-03-05 12:10+08', false), (0, 4, 3, '2024-03-16 12:00+08', false)
	  ) t(tier_mod, pattern, i, at, exact) ON t.tier_mod = res.k % 3 AND t.pattern = ((res.k - 1) / 3) % 5)
SELECT v.at, v.id AS resident_id,
       CASE WHEN ((v.k - 1) / 3) % 5 = 4 AND v.i = 2 THEN pg_temp.worker_id('iv lead tg')
            ELSE (SELECT w.id FROM sanse.worker w WHERE w.area_id = v.area_id AND w.role = 'member'
                   AND w.force = CASE WHEN v.i % 2 = 1 THEN 'volunteer' ELSE 'grid_officer' END) END AS worker_id
  FROM (SELECT * FROM red UNION ALL SELECT * FROM other) v
 WHERE v.at < '2024-03-24 00:00+08'
   -- a visit before the resident's registration is refused (22008)
   AND v.at >= (SELECT r.registered_at FROM sanse.resident r WHERE r.id = v.id);

CREATE TEMP TABLE ev_cap (run text, resident_id bigint, due_at timestamptz, status text, level smallint, level_since timestamptz,
                          assignee_id bigint, resolved_at timestamptz, visit_id bigint, closed_by bigint, visit_at timestamptz);
CREATE TEMP TABLE st_cap (run text, resident_id bigint, due_at timestamptz, level smallint, assignee_id bigint, at timestamptz);

-- replay the script, sweeping every `every_hours` simulated hours (NULL: only at the end);
-- capture the district's events and steps, then undo everything
CREATE FUNCTION pg_temp.replay(run text, every_hours int, visit_seq bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 constant timestamptz := '2024-03-01 00:00+08';
	t_end constant timestamptz := '2024-03-24 00:00+08';
	evs pg_temp.ev_cap[];
	sts pg_temp.st_cap[];
	h int;
	v record;
BEGIN
	BEGIN
		-- visit ids from the same start in every replay
		PERFORM setval('sanse.visit_id_seq', visit_seq);
		FOR h IN 0 .. (extract(epoch FROM t_end - t0) / 3600)::int - 1 LOOP
			FOR v IN SELECT * FROM script
			          WHERE at >= t0 + h * interval '1 hour' AND at < t0 + (h + 1) * interval '1 hour'
			          ORDER BY at, resident_id LOOP
				PERFORM sanse.check_in(sanse.door_token(v.resident_id), v.worker_id, v.at, '{ask_health,check_gas}');
			END LOOP;
			IF every_hours IS NOT NULL AND (h + 1) % every_hours = 0 THEN
				PERFORM sanse.sweep(t0 + (h + 1) * interval '1 hour');
			END IF;
		END LOOP;
		PERFORM sanse.sweep(t_end);
		SELECT array_agg(ROW(run, e.resident_id, e.due_at, e.status, e.level, e.level_since, e.assignee_id,
		                     e.resolved_at, e.visit_id, e.closed_by, vv.at)::pg_temp.ev_cap)
		  INTO evs
		  FROM sanse.event e JOIN sanse.area a ON a.id = e.area_id LEFT JOIN sanse.visit vv ON vv.id = e.visit_id
		 WHERE a.path <@ 'iv';
		SELECT array_agg(ROW(run, e.resident_id, e.due_at, s.level, s.assignee_id, s.at)::pg_temp.st_cap)
		  INTO sts
		  FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id JOIN sanse.area a ON a.id = e.area_id
		 WHERE a.path <@ 'iv';
		RAISE EXCEPTION USING ERRCODE = 'P0099';	-- undo this replay
	EXCEPTION WHEN SQLSTATE 'P0099' THEN
		NULL;
	END;
	INSERT INTO ev_cap SELECT * FROM unnest(evs);
	INSERT INTO st_cap SELECT * FROM unnest(sts);
END
$$;
SELECT last_value AS visit_seq FROM sanse.visit_id_seq \gset
SELECT pg_temp.replay('hourly', 1, :visit_seq);
SELECT pg_temp.replay('6-hourly', 6, :visit_seq);
SELECT pg_temp.replay('daily', 24, :visit_seq);
SELECT pg_temp.replay('at the end', NULL, :visit_seq);

SELECT is((SELECT count(*) FROM event e JOIN area a ON a.id = e.area_id WHERE a.path <@ 'iv'), 0::bigint,
          'each replay was undone');
-- the script exercises what it should
SELECT results_eq($$SELECT count(*) FILTER (WHERE status = 'closed' AND level = 1) > 0, count(*) FILTER (WHERE status = 'closed' AND level > 1) > 0,
                           count(*) FILTER (WHERE status <> 'closed' AND level = 4) > 0, count(*) FILTER (WHERE assignee_id IS NULL) > 0,
                           count(*) = count(DISTINCT (resident_id, due_at))
                      FROM ev_cap WHERE run = 'hourly'$$,
                  $$VALUES (true, true, true, true, true)$$,
                  'the hourly replay has events closed at level 1 and higher, open ones at level 4, NULL assignees, one per (resident, due)');
SELECT results_eq($$SELECT count(DISTINCT r.tier) FROM ev_cap c JOIN sanse.resident r ON r.id = c.resident_id WHERE c.run = 'hourly'$$,
                  $$VALUES (3::bigint)$$, 'with events of all three tiers');

SELECT results_eq($$SELECT resident_id, due_at, status, level, level_since, assignee_id, resolved_at, visit_id, closed_by, visit_at
                      FROM ev_cap WHERE run = '6-hourly' ORDER BY resident_id, due_at$$,
                  $$SELECT resident_id, due_at, status, level, level_since, assignee_id, resolved_at, visit_id, closed_by, visit_at
                      FROM ev_cap WHERE run = 'hourly' ORDER BY resident_id, due_at$$,
                  'sweeping every 6 hours: identical events (status, level, level_since, assignee, resolved_at, visit) as hourly');
SELECT results_eq($$SELECT resident_id, due_at, status, level, level_since, assignee_id, resolved_at, visit_id, closed_by, visit_at
                      FROM ev_cap WHERE run = 'daily' ORDER BY resident_id, due_at$$,
                  $$SELECT resident_id, due_at, status, level, level_since, assignee_id, resolved_at, visit_id, closed_by, visit_at
                      FROM ev_cap WHERE run = 'hourly' ORDER BY resident_id, due_at$$,
                  'sweeping daily: identical events');
SELECT results_eq($$SELECT resident_id, due_at, status, level, level_since, assignee_id, resolved_at, visit_id, closed_by, visit_at
                      FROM ev_cap WHERE run = 'at the end' ORDER BY resident_id, due_at$$,
                  $$SELECT resident_id, due_at, status, level, level_since, assignee_id, resolved_at, visit_id, closed_by, visit_at
                      FROM ev_cap WHERE run = 'hourly' ORDER BY resident_id, due_at$$,
                  'one sweep at the end: identical events');
SELECT results_eq($$SELECT resident_id, due_at, level, assignee_id, at FROM st_cap WHERE run = '6-hourly' ORDER BY 1, 2, 3$$,
                  $$SELECT resident_id, due_at, level, assignee_id, at FROM st_cap WHERE run = 'hourly' ORDER BY 1, 2, 3$$,
                  'sweeping every 6 hours: identical event_step content');
SELECT results_eq($$SELECT resident_id, due_at, level, assignee_id, at FROM st_cap WHERE run = 'daily' ORDER BY 1, 2, 3$$,
                  $$SELECT resident_id, due_at, level, assignee_id, at FROM st_cap WHERE run = 'hourly' ORDER BY 1, 2, 3$$,
                  'sweeping daily: identical event_step content');
SELECT results_eq($$SELECT resident_id, due_at, level, assignee_id, at FROM st_cap WHERE run = 'at the end' ORDER BY 1, 2, 3$$,
                  $$SELECT resident_id, due_at, level, assignee_id, at FROM st_cap WHERE run = 'hourly' ORDER BY 1, 2, 3$$,
                  'one sweep at the end: identical event_step content');

-- and the outcome is the one spec 5 gives, worked out by hand for three residents
-- k1: red in IM1, registered 03-03 05:00+08, never visited: due 03-05 05:00, four steps 4 h apart
SELECT results_eq($$SELECT due_at, status, level, level_since, assignee_id, resolved_at FROM ev_cap
                     WHERE run = 'hourly' AND resident_id = pg_temp.resident_id('k1')$$,
                  $$VALUES ('2024-03-05 05:00+08'::timestamptz, 'open'::text, 4::smallint, '2024-03-05 17:00+08'::timestamptz,
                            pg_temp.worker_id('iv task force'), NULL::timestamptz)$$,
                  'k1 (red, never visited): one open event at level 4 since due + 12 h');
SELECT results_eq($$SELECT level, assignee_id, at FROM st_cap WHERE run = 'hourly' AND resident_id = pg_temp.resident_id('k1') ORDER BY level$$,
                  $$VALUES (1::smallint, pg_temp.worker_id('iv lead m1'), '2024-03-05 05:00+08'::timestamptz),
                           (2::smallint, pg_temp.worker_id('iv lead g'), '2024-03-05 09:00+08'::timestamptz),
                           (3::smallint, pg_temp.worker_id('iv lead tg'), '2024-03-05 13:00+08'::timestamptz),
                           (4::smallint, pg_temp.worker_id('iv task force'), '2024-03-05 17:00+08'::timestamptz)$$,
                  'k1''s four steps');
-- k7: red in IM3 (no micro grid leader), registered 03-04 11:00+08, visits after 50, 57, 48, 61, 52 hours
SELECT results_eq($$SELECT due_at, status, level, level_since, assignee_id, resolved_at, closed_by FROM ev_cap
                     WHERE run = 'hourly' AND resident_id = pg_temp.resident_id('k7') ORDER BY due_at$$,
                  $$VALUES ('2024-03-06 11:00+08'::timestamptz, 'closed'::text, 1::smallint, '2024-03-06 11:00+08'::timestamptz, NULL::bigint,
                            '2024-03-06 13:00+08'::timestamptz, pg_temp.worker_id('volunteer im3')),
                           ('2024-03-08 13:00+08', 'closed', 3::smallint, '2024-03-08 21:00+08', pg_temp.worker_id('iv lead tg'),
                            '2024-03-08 22:00+08', pg_temp.worker_id('grid_officer im3')),
                           ('2024-03-10 22:00+08', 'closed', 1::smallint, '2024-03-10 22:00+08', NULL,
                            '2024-03-10 22:00+08', pg_temp.worker_id('volunteer im3')),
                           ('2024-03-12 22:00+08', 'closed', 4::smallint, '2024-03-13 10:00+08', pg_temp.worker_id('iv task force'),
                            '2024-03-13 11:00+08', pg_temp.worker_id('grid_officer im3')),
                           ('2024-03-15 11:00+08', 'closed', 2::smallint, '2024-03-15 15:00+08', pg_temp.worker_id('iv lead g'),
                            '2024-03-15 15:00+08', pg_temp.worker_id('volunteer im3')),
                           ('2024-03-17 15:00+08', 'open', 4::smallint, '2024-03-18 03:00+08', pg_temp.worker_id('iv task force'),
                            NULL, NULL)$$,
                  'k7 (red, late by 2 h, 9 h, 0, 13 h, exactly 4 h, then never): six events at the levels the lateness reached');
-- k3: blue in IM3, registered in January (due 03-01), never visited: steps 03-01, 03-04, 03-07, 03-10
SELECT results_eq($$SELECT level, assignee_id, at FROM st_cap WHERE run = 'hourly' AND resident_id = pg_temp.resident_id('k3') ORDER BY level$$,
                  $$VALUES (1::smallint, NULL::bigint, '2024-03-01 00:00+08'::timestamptz),
                           (2::smallint, pg_temp.worker_id('iv lead g'), '2024-03-04 00:00+08'::timestamptz),
                           (3::smallint, pg_temp.worker_id('iv lead tg'), '2024-03-07 00:00+08'::timestamptz),
                           (4::smallint, pg_temp.worker_id('iv task force'), '2024-03-10 00:00+08'::timestamptz)$$,
                  'k3 (blue, never visited, no micro grid leader): NULL at level 1, then three days per step');

-----------------------------------------------------------------------------
-- Part 3: visits that reach the server late (offline sync) in any
-- interleaving with sweeps.  Two red residents due 03-05 00:00+08:
--   sync1 was visited on time (03-04 12:00), sync2 5 hours late (03-05 05:00);
--   both visits arrive at 03-06 00:00, either before or after a sweep at that time.
-----------------------------------------------------------------------------
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, n, '{accident_risk}', '2024-03-03 00:00+08' FROM area a, unnest(ARRAY['sync1', 'sync2']) n WHERE a.name = 'IM1';
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, pg_temp.worker_id('volunteer im1') FROM resident r WHERE r.name IN ('sync1', 'sync2');
CREATE FUNCTION pg_temp.sync(run text, sweep_first boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	evs pg_temp.ev_cap[];
	sts pg_temp.st_cap[];
BEGIN
	BEGIN
		IF sweep_first THEN
			PERFORM sanse.sweep('2024-03-06 00:00+08');
		END IF;
		PERFORM sanse.check_in(sanse.door_token(pg_temp.resident_id('sync1')), pg_temp.worker_id('volunteer im1'), '2024-03-04 12:00+08');
		PERFORM sanse.check_in(sanse.door_token(pg_temp.resident_id('sync2')), pg_temp.worker_id('volunteer im1'), '2024-03-05 05:00+08');
		PERFORM sanse.sweep('2024-03-06 00:00+08');
		SELECT array_agg(ROW(run, e.resident_id, e.due_at, e.status, e.level, e.level_since, e.assignee_id,
		                     e.resolved_at, NULL, e.closed_by, vv.at)::pg_temp.ev_cap)
		  INTO evs
		  FROM sanse.event e LEFT JOIN sanse.visit vv ON vv.id = e.visit_id
		 WHERE e.resident_id IN (pg_temp.resident_id('sync1'), pg_temp.resident_id('sync2'));
		SELECT array_agg(ROW(run, e.resident_id, e.due_at, s.level, s.assignee_id, s.at)::pg_temp.st_cap)
		  INTO sts
		  FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
		 WHERE e.resident_id IN (pg_temp.resident_id('sync1'), pg_temp.resident_id('sync2'));
		RAISE EXCEPTION USING ERRCODE = 'P0099';
	EXCEPTION WHEN SQLSTATE 'P0099' THEN
		NULL;
	END;
	INSERT INTO ev_cap SELECT * FROM unnest(evs);
	INSERT INTO st_cap SELECT * FROM unnest(sts);
END
$$;
SELECT pg_temp.sync('synced before the sweep', false);
SELECT pg_temp.sync('synced after the sweep', true);
SELECT results_eq($$SELECT due_at, status, level, level_since, assignee_id, resolved_at, visit_at FROM ev_cap
                     WHERE run = 'synced before the sweep' AND resident_id = pg_temp.resident_id('sync2')$$,
                  $$VALUES ('2024-03-05 00:00+08'::timestamptz, 'closed'::text, 2::smallint, '2024-03-05 04:00+08'::timestamptz,
                            pg_temp.worker_id('iv lead g'), '2024-03-05 05:00+08'::timestamptz, '2024-03-05 05:00+08'::timestamptz)$$,
                  'sync2 synced before any sweep: its event is created and closed at level 2 (visit 5 h after due)');
SELECT results_eq($$SELECT due_at, status, level, level_since, assignee_id, resolved_at, visit_at FROM ev_cap
                     WHERE run = 'synced after the sweep' AND resident_id = pg_temp.resident_id('sync2')$$,
                  $$SELECT due_at, status, level, level_since, assignee_id, resolved_at, visit_at FROM ev_cap
                     WHERE run = 'synced before the sweep' AND resident_id = pg_temp.resident_id('sync2')$$,
                  'sync2 synced after the sweep escalated it to level 4: the same event (level 2 at the visit''s time)');
SELECT results_eq($$SELECT level, assignee_id, at FROM st_cap WHERE run = 'synced after the sweep' AND resident_id = pg_temp.resident_id('sync2') ORDER BY level$$,
                  $$SELECT level, assignee_id, at FROM st_cap WHERE run = 'synced before the sweep' AND resident_id = pg_temp.resident_id('sync2') ORDER BY level$$,
                  'and the same steps: none after the visit''s time is left on the closed event');
SELECT is((SELECT count(*) FROM ev_cap WHERE run IN ('synced before the sweep', 'synced after the sweep') AND resident_id = pg_temp.resident_id('sync1')),
          0::bigint, 'sync1''s window was met (visit before due): no overdue event for it, whichever came first');
SELECT is((SELECT count(*) FROM ev_cap WHERE resolved_at < due_at), 0::bigint, 'no overdue event is resolved before it was due');

SELECT * FROM finish();
ROLLBACK;
