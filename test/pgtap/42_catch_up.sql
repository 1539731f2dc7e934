-- pgTAP: catch-up sweeps (issue 22) — a sweeper down for days finds
-- hundreds of missed windows; sweep() opens them in bounded calls (here one
-- batch per call: the budget set to nothing for this file), each event
-- exactly once, at the level its schedule reached, with every step, the
-- leader of each level and the carers of the moment — the values computed
-- here independently of the code under test (plain arithmetic in
-- Asia/Shanghai and plain joins over the hierarchy) — and sweep_status says
-- when a call left work to the next.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'America/Los_Angeles';	-- the client's zone must not matter
\ir include/helpers.psql
SELECT plan(20);

SELECT has_function('sanse', 'open_due_events', ARRAY['timestamp with time zone', 'bigint[]', 'boolean'], 'open_due_events(at, residents, climb)');
SELECT has_table('sanse', 'sweep_progress', 'sweep_progress: how the last sweep ended');
SELECT columns_are('sanse', 'sweep_progress',
	ARRAY['one', 'at', 'started_at', 'ended_at', 'overdue_opened', 'escalations', 'overdue_left', 'escalations_left'],
	'sweep_progress columns');
SELECT has_column('sanse', 'sweep_status', 'work_left', 'sweep_status says when a sweep left work to the next call');
SELECT is(sanse.sweep_batch(), 200, 'a sweep statement opens at most 200 events');
SELECT ok(NOT has_function_privilege('public', 'sanse.open_due_events(timestamptz, bigint[], boolean)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'sanse.sweep_catch_up(timestamptz, timestamptz)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'sanse.sweep_daily_phases(timestamptz)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'sanse.sweep_progress_record(timestamptz, timestamptz, integer, integer, boolean, boolean)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'sanse.catch_up(integer)', 'EXECUTE')
          AND NOT has_table_privilege('public', 'sanse.sweep_progress', 'SELECT'),
          'the catch-up''s functions and its table are not PUBLIC''s');

-----------------------------------------------------------------------------
-- A district of its own, leaders missing at some levels (as 09_sweeps):
--   C > T > V > TG1 > G1 > M1 (leader; an inactive one with a lower id), M2 (no leader)
--                   > G2 (no leader) > M3 (leader)
--             > TG2 (no leader) > G3 (leader) > M4 (leader)
-----------------------------------------------------------------------------
INSERT INTO area (path, kind, name) VALUES
  ('c', 'district', 'C'), ('c.t', 'town', 'CT'), ('c.t.v', 'village', 'CV'),
  ('c.t.v.tg1', 'total_grid', 'TG1'), ('c.t.v.tg1.g1', 'general_grid', 'G1'),
  ('c.t.v.tg1.g1.m1', 'micro_grid', 'M1'), ('c.t.v.tg1.g1.m2', 'micro_grid', 'M2'),
  ('c.t.v.tg1.g2', 'general_grid', 'G2'), ('c.t.v.tg1.g2.m3', 'micro_grid', 'M3'),
  ('c.t.v.tg2', 'total_grid', 'TG2'), ('c.t.v.tg2.g3', 'general_grid', 'G3'), ('c.t.v.tg2.g3.m4', 'micro_grid', 'M4');
INSERT INTO worker (name, force, role, area_id, active)
SELECT v.name, v.force, v.role, a.id, v.active
  FROM (VALUES (1, 'former lead m1', 'grid_officer', 'micro_grid_leader', 'c.t.v.tg1.g1.m1', false),
               (2, 'lead m1', 'grid_officer', 'micro_grid_leader', 'c.t.v.tg1.g1.m1', true),
               (3, 'second lead m1', 'grid_officer', 'micro_grid_leader', 'c.t.v.tg1.g1.m1', true),
               (4, 'lead m3', 'grid_officer', 'micro_grid_leader', 'c.t.v.tg1.g2.m3', true),
               (5, 'lead m4', 'grid_officer', 'micro_grid_leader', 'c.t.v.tg2.g3.m4', true),
               (6, 'lead g1', 'community_cadre', 'general_grid_leader', 'c.t.v.tg1.g1', true),
               (7, 'lead g3', 'community_cadre', 'general_grid_leader', 'c.t.v.tg2.g3', true),
               (8, 'lead tg1', 'community_cadre', 'total_grid_leader', 'c.t.v.tg1', true),
               (9, 'task force', 'department_staff', 'task_force', 'c', true),
               (10, 'second task force', 'department_staff', 'task_force', 'c', true),
               (11, 'volunteer m1', 'volunteer', 'member', 'c.t.v.tg1.g1.m1', true),
               (12, 'volunteer m4', 'volunteer', 'member', 'c.t.v.tg2.g3.m4', true)) v(ord, name, force, role, path, active)
  JOIN area a ON a.path = v.path::ltree
 ORDER BY v.ord;

-- 1,400 residents over the four micro grids: the reds (three in five)
-- registered 100 s apart from 2024-04-16 12:00, so that by the sweep their
-- windows (due two days on) have climbed 4-hourly steps to every level; the
-- yellows and blues registered in March, long missed.
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'r' || i,
       CASE i % 5 WHEN 0 THEN '{partial_care,mobility_impaired}'::text[] WHEN 1 THEN '{self_care_difficulty}' ELSE '{accident_risk}' END,
       CASE WHEN i % 5 IN (0, 1) THEN timestamptz '2024-03-10 00:00+08' + i * interval '7 minutes'
            ELSE timestamptz '2024-04-16 12:00+08' + i * interval '100 seconds' END
  FROM generate_series(1, 1400) i
  JOIN area a ON a.path = (ARRAY['c.t.v.tg1.g1.m1', 'c.t.v.tg1.g1.m2', 'c.t.v.tg1.g2.m3', 'c.t.v.tg2.g3.m4'])[1 + i % 4]::ltree;
-- carers in M1 and M4 (charged with the missed windows)
INSERT INTO carer (resident_id, worker_id, force)
SELECT r.id, w.id, w.force FROM resident r JOIN worker w ON w.area_id = r.area_id AND w.active
 WHERE w.name IN ('lead m1', 'volunteer m1', 'lead m4', 'volunteer m4');

-- The sweeper was down: the last sweep ran 2024-04-05, opening the windows
-- due by then at level 1 (sweep_overdue alone); the next runs 2024-04-20.
SELECT ok(sweep_overdue('2024-04-05 00:00+08') > 0, 'some windows were opened before the sweeper went down');

-- What the sweeps must leave, computed here: every window due by the sweep
-- (one event each), step j at due + (j - 1) × escalate_after in Shanghai's
-- wall-clock time (no summer time there), the lowest-id active leader of the
-- micro grid's ancestor of each level, the carers in id order.
CREATE TEMP TABLE want AS
SELECT r.id AS resident_id, r.area_id, due_at(r.next_visit) AS due, p.escalate_after AS esc,
       ARRAY(SELECT c.worker_id FROM carer c WHERE c.resident_id = r.id ORDER BY 1) AS carers
  FROM resident r JOIN tier_policy p ON p.tier = r.tier
 WHERE r.active AND due_at(r.next_visit) <= '2024-04-20 00:00+08';
CREATE TEMP TABLE want_leader AS
SELECT m.id AS area_id, l AS level,
       (SELECT min(w.id) FROM worker w JOIN area a ON a.id = w.area_id
         WHERE a.path = subpath(m.path, 0, CASE l WHEN 4 THEN 1 ELSE nlevel(m.path) - l + 1 END) AND w.active
           AND w.role = (ARRAY['micro_grid_leader', 'general_grid_leader', 'total_grid_leader', 'task_force'])[l]) AS leader
  FROM area m CROSS JOIN generate_series(1, 4) l
 WHERE m.path <@ 'c' AND m.kind = 'micro_grid';
CREATE TEMP TABLE want_time AS
SELECT w.resident_id, j AS level, ((w.due AT TIME ZONE 'Asia/Shanghai') + (j - 1) * w.esc) AT TIME ZONE 'Asia/Shanghai' AS at
  FROM want w CROSS JOIN generate_series(1, 5) j;
CREATE TEMP TABLE want_step AS
SELECT t.resident_id, t.level, l.leader, t.at
  FROM want_time t JOIN want w USING (resident_id) JOIN want_leader l ON l.area_id = w.area_id AND l.level = t.level
 WHERE t.level <= 4 AND t.at <= '2024-04-20 00:00+08';
CREATE TEMP TABLE want_event AS
SELECT w.resident_id, s.level, s.leader AS assignee_id, w.due, s.at AS level_since,
       CASE WHEN s.level < 4 THEN n.at END AS next_step_at, w.carers
  FROM want w
  JOIN want_step s ON s.resident_id = w.resident_id
                  AND s.level = (SELECT max(x.level) FROM want_step x WHERE x.resident_id = w.resident_id)
  JOIN want_time n ON n.resident_id = w.resident_id AND n.level = s.level + 1;

SELECT ok((SELECT count(*) FROM want) > 1000, 'more than a thousand windows are due by the sweep');
SELECT results_eq($$SELECT level, count(*) > 0 FROM want_event GROUP BY level ORDER BY level$$,
                  $$VALUES (1::int, true), (2, true), (3, true), (4, true)$$,
                  'the catch-up meets events at every level');
SELECT ok(EXISTS (SELECT 1 FROM want_step WHERE leader IS NULL), 'and levels without a leader');

-- Bounded calls: one batch of opening and one of escalation each.
CREATE OR REPLACE FUNCTION sanse.sweep_budget() RETURNS interval LANGUAGE sql STABLE RETURN interval '0';
CREATE TEMP TABLE calls (n int, opened int, escalations int, work_left boolean, overdue_left boolean);
DO $$
DECLARE
	s record;
	k int := 0;
BEGIN
	LOOP
		k := k + 1;
		SELECT * INTO s FROM sanse.sweep('2024-04-20 00:00+08');
		INSERT INTO calls SELECT k, s.overdue_opened, s.escalations, st.work_left, st.overdue_left FROM sanse.sweep_status st;
		EXIT WHEN NOT (SELECT st.work_left FROM sanse.sweep_status st) OR k >= 20;
	END LOOP;
END
$$;
SELECT ok((SELECT count(*) FROM calls) BETWEEN 2 AND 19, 'the catch-up took several calls, and ended');
SELECT ok((SELECT max(opened) FROM calls) <= 200, 'no call opened more than a batch');
SELECT results_eq($$SELECT bool_and(work_left) FILTER (WHERE n < (SELECT max(n) FROM calls)),
                           bool_or(work_left) FILTER (WHERE n = (SELECT max(n) FROM calls)),
                           bool_or(overdue_left) FILTER (WHERE n = 1) FROM calls$$,
                  $$VALUES (true, false, true)$$,
                  'sweep_status.work_left: true after every call but the last; the first left overdue events');
SELECT is((SELECT sum(opened) FROM calls)::bigint, (SELECT count(*) FROM want) - (SELECT count(*) FROM event WHERE due_at <= '2024-04-05 00:00+08'),
          'the calls together opened every window not opened before, once');
SELECT results_eq($$SELECT overdue_opened, escalations FROM sanse.sweep('2024-04-20 00:00+08')$$,
                  $$VALUES (0, 0)$$, 'a further sweep finds nothing left');

SELECT is((SELECT count(*) FROM event e JOIN want w ON w.resident_id = e.resident_id AND w.due = e.due_at), (SELECT count(*) FROM want),
          'every due window has its event');
SELECT is((SELECT count(*) FROM event), (SELECT count(DISTINCT (resident_id, due_at)) FROM event), 'exactly once');
SELECT set_eq($$SELECT resident_id, level::int, assignee_id, due_at, level_since, next_step_at, charged_to, status FROM event$$,
              $$SELECT resident_id, level, assignee_id, due, level_since, next_step_at, carers, 'open'::text FROM want_event$$,
              'each event at the level its schedule reached, its leader, since that step, the next step''s time, charged to the carers');
SELECT set_eq($$SELECT e.resident_id, s.level::int, s.assignee_id, s.at FROM event_step s JOIN event e ON e.id = s.event_id$$,
              $$SELECT resident_id, level, leader, at FROM want_step$$,
              'every step of every event: level, leader (NULL where none), logical time');
SELECT set_eq($$SELECT worker_id, month, windows_missed FROM worker_tally WHERE windows_missed <> 0$$,
              $$SELECT c.worker_id, date_trunc('month', w.due AT TIME ZONE 'Asia/Shanghai')::date, count(*)
                  FROM want w CROSS JOIN LATERAL unnest(w.carers) c(worker_id) GROUP BY 1, 2$$,
              'each missed window counted once against each of its carers, in its month');

SELECT diag(format('%s calls, %s windows due', (SELECT count(*) FROM calls), (SELECT count(*) FROM want)));
SELECT * FROM finish();
ROLLBACK;
