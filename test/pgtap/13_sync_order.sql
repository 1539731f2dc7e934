-- pgTAP: sync order (spec 5, pinned invariant; issue 9).  Events, their
-- escalation steps and every count derived from them are a function of the
-- visits' own times, never of the order in which visits reach the server:
-- a visit synced late that met a window removes that window's event and
-- re-derives the resident's later windows and events from its time on,
-- exactly as if it had arrived on time.
--
-- Part 1: small stories, each played twice on the same simulated timeline
-- (hourly sweeps between check-ins): run "in order" checks every visit in
-- at its own time; run "synced late" holds some visits back and syncs them
-- after later visits and later sweeps.  Both must end with the same events
-- (due, status, level, level_since, resolved_at, the closing visit's time),
-- steps (level, time, assignee) and worker tally (windows met / missed).
-- Part 2: a seeded random replay of ~10 residents over 45 days, run three
-- times side by side in three copies of a district (x: every visit synced at
-- its own time; y: ~40 % synced 1-72 h late; z: every visit synced only at
-- the end, newest first), compared with each other and, for red residents,
-- with the events worked out here from the visit times alone.
--
-- Every simulated time is in 2024 (in the past: check_in refuses times more
-- than 5 minutes ahead of the clock).  Names are "<run>/<label>"; runs are
-- compared on the labels.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';	-- due dates must not depend on the client's zone
\ir include/helpers.psql
SELECT plan(33);

-----------------------------------------------------------------------------
-- helpers
-----------------------------------------------------------------------------
-- the name without its run prefix
CREATE FUNCTION pg_temp.label(n text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT regexp_replace(n, '^[^/]*/', '') $$;
CREATE FUNCTION pg_temp.run(n text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT split_part(n, '/', 1) $$;

-- a run's overdue events, by resident label
CREATE FUNCTION pg_temp.events(p_run text)
RETURNS TABLE (resident text, due_at timestamptz, status text, level smallint, level_since timestamptz,
               resolved_at timestamptz, visit_at timestamptz)
LANGUAGE sql STABLE AS $$
	SELECT pg_temp.label(r.name), e.due_at, e.status, e.level, e.level_since, e.resolved_at, v.at
	  FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id
	  LEFT JOIN sanse.visit v ON v.id = e.visit_id
	 WHERE pg_temp.run(r.name) = p_run AND e.kind = 'overdue'
	 ORDER BY 1, 2
$$;
-- a run's escalation steps
CREATE FUNCTION pg_temp.steps(p_run text)
RETURNS TABLE (resident text, due_at timestamptz, level smallint, at timestamptz, assignee text)
LANGUAGE sql STABLE AS $$
	SELECT pg_temp.label(r.name), e.due_at, s.level, s.at, pg_temp.label(w.name)
	  FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
	  JOIN sanse.resident r ON r.id = e.resident_id
	  LEFT JOIN sanse.worker w ON w.id = s.assignee_id
	 WHERE pg_temp.run(r.name) = p_run AND e.kind = 'overdue'
	 ORDER BY 1, 2, 3
$$;
-- a run's check-in tally: windows met and missed per worker and month (rows
-- that are all zero, e.g. after an event was taken back, are left out)
CREATE FUNCTION pg_temp.tally(p_run text)
RETURNS TABLE (worker text, month date, windows_met bigint, windows_missed bigint)
LANGUAGE sql STABLE AS $$
	SELECT pg_temp.label(w.name), t.month, t.windows_met::bigint, t.windows_missed::bigint
	  FROM sanse.worker_tally t JOIN sanse.worker w ON w.id = t.worker_id
	 WHERE pg_temp.run(w.name) = p_run AND (t.windows_met <> 0 OR t.windows_missed <> 0)
	 ORDER BY 1, 2
$$;
-- a run's anchors
CREATE FUNCTION pg_temp.anchors(p_run text)
RETURNS TABLE (resident text, last_visit_at timestamptz, next_visit sanse.visit_window)
LANGUAGE sql STABLE AS $$
	SELECT pg_temp.label(r.name), r.last_visit_at, r.next_visit
	  FROM sanse.resident r WHERE pg_temp.run(r.name) = p_run ORDER BY 1
$$;

-- The script: each visit (resident, worker, its own time) and when it
-- reaches the server.  replay(t0, t1) walks the simulated hours t0, t0+1h,
-- ... t1: at each hour h it checks in, in (sync_at, seq) order, every visit
-- that reached the server in (h - 1 h, h] (at t0: up to t0), then runs
-- sanse.sweep(h).
CREATE TEMP TABLE script (res text, wk text, at timestamptz, sync_at timestamptz, seq bigint);
CREATE FUNCTION pg_temp.replay(t0 timestamptz, t1 timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	h timestamptz := t0;
	prev timestamptz := '-infinity';
	s record;
BEGIN
	WHILE h <= t1 LOOP
		FOR s IN SELECT * FROM script WHERE sync_at > prev AND sync_at <= h ORDER BY sync_at, seq LOOP
			PERFORM sanse.check_in(sanse.door_token(pg_temp.resident_id(s.res)), pg_temp.worker_id(s.wk), s.at);
		END LOOP;
		PERFORM sanse.sweep(h);
		prev := h;
		h := h + interval '1 hour';
	END LOOP;
END
$$;

-----------------------------------------------------------------------------
-- Part 1 fixture: district D > ... > micro grid M with a leader at every
-- level.  Four stories (c1..c4), each with one resident per run and two
-- carers per resident (A a volunteer, B a grid officer), so each run's tally
-- is its own.  All registered Friday 2024-03-01 09:00+08.
-----------------------------------------------------------------------------
INSERT INTO area (path, kind, name) VALUES
  ('d', 'district', 'D'), ('d.t', 'town', 'DT'), ('d.t.v', 'village', 'DV'), ('d.t.v.tg', 'total_grid', 'DTG'),
  ('d.t.v.tg.g', 'general_grid', 'DG'), ('d.t.v.tg.g.m', 'micro_grid', 'DM');
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, v.force, v.role, a.id
  FROM (VALUES ('lead m', 'grid_officer', 'micro_grid_leader', 'd.t.v.tg.g.m'),
               ('lead g', 'community_cadre', 'general_grid_leader', 'd.t.v.tg.g'),
               ('lead tg', 'community_cadre', 'total_grid_leader', 'd.t.v.tg'),
               ('task force', 'department_staff', 'task_force', 'd')) v(name, force, role, path)
  JOIN area a ON a.path = v.path::ltree;
INSERT INTO worker (name, force, role, area_id)
SELECT format('%s/%s %s', run, c, k), CASE k WHEN 'A' THEN 'volunteer' ELSE 'grid_officer' END, 'member', a.id
  FROM unnest(ARRAY['in order', 'synced late']) run, unnest(ARRAY['c1', 'c2', 'c3', 'c4']) c, unnest(ARRAY['A', 'B']) k,
       area a WHERE a.path = 'd.t.v.tg.g.m'
 ORDER BY 1;
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, format('%s/%s', run, c),
       CASE c WHEN 'c4' THEN '{partial_care,unstable_chronic}'::text[] ELSE '{accident_risk}' END,	-- c4 yellow, the rest red
       '2024-03-01 09:00+08'
  FROM unnest(ARRAY['in order', 'synced late']) run, unnest(ARRAY['c1', 'c2', 'c3', 'c4']) c,
       area a WHERE a.path = 'd.t.v.tg.g.m'
 ORDER BY 2;
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r JOIN worker w ON w.name LIKE r.name || ' _' WHERE r.name LIKE '%/c_';

-- If sanse.max_backdate exists (superuser-only, it bounds how far back a
-- visit may be dated), let this test's 2024 times through.
DO $$
BEGIN
	IF current_setting('sanse.max_backdate', true) IS NOT NULL THEN
		PERFORM set_config('sanse.max_backdate', '10 years', true);
	END IF;
END
$$;

-- The stories (times +08).
--  c1 (red, due 03-03 09:00): A visits 03-03 08:00 with his phone offline,
--     B at 10:00.  Synced late: 10:00 reaches the server first, 08:00 at
--     12:00 after two sweeps.  Either way the window was met at 08:00 and
--     the next one (after 10:00) is due 03-05 10:00: missed until the end.
--  c2 (red): visits at day 0, 1.5 and 5 after 03-02 09:00.  Synced late: the
--     day-1.5 visit (03-03 21:00) reaches the server at 03-07 21:00, after
--     the day-5 visit (03-07 09:00) and after 4 days of sweeps that opened
--     the window due at day 2 (03-04 09:00).  The right story: the window
--     after day 0 was met by day 1.5; the window after day 1.5 is due at
--     day 3.5 (03-05 21:00) and missed until day 5: exactly one event,
--     due 03-05 21:00, closed 03-07 09:00 at level 4.
--  c3 (red, due 03-03 09:00): A visits 3 hours late (03-03 12:00), B
--     03-04 10:00.  Synced late: B's visit first, after sweeps took the
--     event to level 4; A's at 03-04 12:00.  The right story: the event
--     closes at 12:00 at level 1, and B met the window after A.
--  c4 (yellow, calendar week in Asia/Shanghai: due Monday 03-11 00:00+08): A
--     visits Sunday 03-10 23:30, B Tuesday 03-12 10:00.  Synced late: B's
--     visit first (the sweeps opened the window due 03-11 and took it to
--     level 2), A's at 03-12 11:00.  The right story: no event for 03-11,
--     B met the week 03-11..03-18, the week 03-18..03-25 was missed.
INSERT INTO script (res, wk, at, sync_at, seq)
SELECT format('%s/%s', run, c), format('%s/%s %s', run, c, k), at::timestamptz,
       CASE WHEN run = 'synced late' AND late_sync IS NOT NULL THEN late_sync::timestamptz ELSE at::timestamptz END, 0
  FROM (VALUES ('c1', 'A', '2024-03-03 08:00+08', '2024-03-03 12:00+08'),
               ('c1', 'B', '2024-03-03 10:00+08', NULL),
               ('c2', 'A', '2024-03-02 09:00+08', NULL),
               ('c2', 'B', '2024-03-03 21:00+08', '2024-03-07 21:00+08'),
               ('c2', 'A', '2024-03-07 09:00+08', NULL),
               ('c3', 'A', '2024-03-03 12:00+08', '2024-03-04 12:00+08'),
               ('c3', 'B', '2024-03-04 10:00+08', NULL),
               ('c4', 'A', '2024-03-10 23:30+08', '2024-03-12 11:00+08'),
               ('c4', 'B', '2024-03-12 10:00+08', NULL)) s(c, k, at, late_sync),
       unnest(ARRAY['in order', 'synced late']) run;
-- hourly sweeps from registration to Wednesday 03-27 00:00+08
SELECT pg_temp.replay('2024-03-01 10:00+08', '2024-03-27 00:00+08');

-- the right stories, worked out by hand (red: 4 hours a step; yellow: a day)
SELECT results_eq($$SELECT * FROM pg_temp.events('in order') WHERE resident = 'c1'$$,
  $$VALUES ('c1'::text, '2024-03-05 10:00+08'::timestamptz, 'open'::text, 4::smallint, '2024-03-05 22:00+08'::timestamptz,
            NULL::timestamptz, NULL::timestamptz)$$,
  'c1 in time order: the window due 03-03 09:00 was met at 08:00; only the window after 10:00 (due 03-05 10:00) is missed, open at level 4');
SELECT results_eq($$SELECT * FROM pg_temp.events('in order') WHERE resident = 'c2'$$,
  $$VALUES ('c2'::text, '2024-03-05 21:00+08'::timestamptz, 'closed'::text, 4::smallint, '2024-03-06 09:00+08'::timestamptz,
            '2024-03-07 09:00+08'::timestamptz, '2024-03-07 09:00+08'::timestamptz),
           ('c2', '2024-03-09 09:00+08', 'open', 4::smallint, '2024-03-09 21:00+08', NULL, NULL)$$,
  'c2 in time order: one event due at day 3.5 (03-05 21:00) closed at day 5 at level 4, then the window after day 5 open');
SELECT results_eq($$SELECT * FROM pg_temp.events('in order') WHERE resident = 'c3'$$,
  $$VALUES ('c3'::text, '2024-03-03 09:00+08'::timestamptz, 'closed'::text, 1::smallint, '2024-03-03 09:00+08'::timestamptz,
            '2024-03-03 12:00+08'::timestamptz, '2024-03-03 12:00+08'::timestamptz),
           ('c3', '2024-03-06 10:00+08', 'open', 4::smallint, '2024-03-06 22:00+08', NULL, NULL)$$,
  'c3 in time order: the 3-hour-late visit closes the event at level 1; the window after 03-04 10:00 is open');
SELECT results_eq($$SELECT * FROM pg_temp.events('in order') WHERE resident = 'c4'$$,
  $$VALUES ('c4'::text, '2024-03-25 00:00+08'::timestamptz, 'open'::text, 3::smallint, '2024-03-27 00:00+08'::timestamptz,
            NULL::timestamptz, NULL::timestamptz)$$,
  'c4 in time order (yellow): no event for the week due 03-11, nor 03-18; the week due 03-25 is open at level 3');
SELECT results_eq($$SELECT level, at, assignee FROM pg_temp.steps('in order') WHERE resident = 'c2' AND due_at = '2024-03-05 21:00+08'$$,
  $$VALUES (1::smallint, '2024-03-05 21:00+08'::timestamptz, 'lead m'::text), (2::smallint, '2024-03-06 01:00+08'::timestamptz, 'lead g'),
           (3::smallint, '2024-03-06 05:00+08'::timestamptz, 'lead tg'), (4::smallint, '2024-03-06 09:00+08'::timestamptz, 'task force')$$,
  'c2 in time order: steps every 4 hours from day 3.5');
SELECT results_eq($$SELECT level, at, assignee FROM pg_temp.steps('in order') WHERE resident = 'c3' AND due_at = '2024-03-03 09:00+08'$$,
  $$VALUES (1::smallint, '2024-03-03 09:00+08'::timestamptz, 'lead m'::text)$$,
  'c3 in time order: the event closed at 12:00 has step 1 only');
SELECT results_eq($$SELECT * FROM pg_temp.tally('in order') WHERE worker LIKE 'c1 %'$$,
  $$VALUES ('c1 A'::text, '2024-03-01'::date, 2::bigint, 1::bigint), ('c1 B', '2024-03-01', 2, 1)$$,
  'c1 in time order: both carers have two windows met (due 03-03 09:00 and 03-05 08:00) and one missed');

-- the same stories with visits synced late
SELECT is((SELECT count(*) FROM pg_temp.events('synced late') WHERE resident = 'c1' AND due_at = '2024-03-03 09:00+08'), 0::bigint,
  'c1 synced late: no event for the window met at 08:00, although 10:00 reached the server first');
SELECT results_eq(format($$SELECT * FROM pg_temp.events('synced late') WHERE resident = %L$$, c),
                  format($$SELECT * FROM pg_temp.events('in order') WHERE resident = %L$$, c),
                  format('%s synced late: the same events as in time order (due, status, level, level_since, resolved_at, closing visit)', c))
  FROM unnest(ARRAY['c1', 'c2', 'c3', 'c4']) c;
SELECT results_eq(format($$SELECT * FROM pg_temp.steps('synced late') WHERE resident = %L$$, c),
                  format($$SELECT * FROM pg_temp.steps('in order') WHERE resident = %L$$, c),
                  format('%s synced late: the same escalation steps (level, time, assignee)', c))
  FROM unnest(ARRAY['c1', 'c2', 'c3', 'c4']) c;
SELECT results_eq(format($$SELECT * FROM pg_temp.tally('synced late') WHERE worker LIKE '%s %%'$$, c),
                  format($$SELECT * FROM pg_temp.tally('in order') WHERE worker LIKE '%s %%'$$, c),
                  format('%s synced late: the same windows met and missed per carer and month', c))
  FROM unnest(ARRAY['c1', 'c2', 'c3', 'c4']) c;
SELECT results_eq($$SELECT * FROM pg_temp.anchors('synced late')$$, $$SELECT * FROM pg_temp.anchors('in order')$$,
  'every story ends with the same last_visit_at and next_visit in both runs');

-- Part 1's residents leave the programme, so Part 2's sweeps leave them be.
UPDATE resident SET active = false WHERE name LIKE '%/c_';

-----------------------------------------------------------------------------
-- Part 2 fixture: three identical districts x, y, z (one per run): micro
-- grids m1 and m2 with leaders at every level; 6 red, 2 yellow, 2 blue
-- residents registered 2024-04-30 from 08:00 on; the reds cared for by two
-- of vol1, vol2 (volunteers), off1, off2 (grid officers), the others by pro
-- (service professional) and cadre (community cadre).
-----------------------------------------------------------------------------
INSERT INTO area (path, kind, name)
SELECT (d || p)::ltree, k, d || p
  FROM unnest(ARRAY['x', 'y', 'z']) d,
       (VALUES ('', 'district'), ('.t', 'town'), ('.t.v', 'village'), ('.t.v.tg', 'total_grid'),
               ('.t.v.tg.g', 'general_grid'), ('.t.v.tg.g.m1', 'micro_grid'), ('.t.v.tg.g.m2', 'micro_grid')) v(p, k)
 ORDER BY 1;
INSERT INTO worker (name, force, role, area_id)
SELECT d || '/' || v.name, v.force, v.role, a.id
  FROM unnest(ARRAY['x', 'y', 'z']) d,
       (VALUES (1, 'lead m1', 'grid_officer', 'micro_grid_leader', '.t.v.tg.g.m1'),
               (2, 'lead m2', 'grid_officer', 'micro_grid_leader', '.t.v.tg.g.m2'),
               (3, 'lead g', 'community_cadre', 'general_grid_leader', '.t.v.tg.g'),
               (4, 'lead tg', 'community_cadre', 'total_grid_leader', '.t.v.tg'),
               (5, 'task force', 'department_staff', 'task_force', ''),
               (6, 'vol1', 'volunteer', 'member', '.t.v.tg.g.m1'),
               (7, 'vol2', 'volunteer', 'member', '.t.v.tg.g.m2'),
               (8, 'off1', 'grid_officer', 'member', '.t.v.tg.g.m1'),
               (9, 'off2', 'grid_officer', 'member', '.t.v.tg.g.m2'),
               (10, 'pro', 'service_professional', 'member', '.t.v'),
               (11, 'cadre', 'community_cadre', 'member', '.t.v.tg.g')) v(ord, name, force, role, p),
       area a
 WHERE a.path = (d || v.p)::ltree
 ORDER BY d, v.ord;
CREATE TEMP TABLE rnd_resident (label text PRIMARY KEY, tier text, grid text, registered_at timestamptz, carers text[]);
INSERT INTO rnd_resident VALUES
  ('r1', 'red', 'm1', '2024-04-30 08:00+08', '{vol1,off1}'),
  ('r2', 'red', 'm2', '2024-04-30 08:53+08', '{vol2,off1}'),
  ('r3', 'red', 'm1', '2024-04-30 09:46+08', '{vol1,off2}'),
  ('r4', 'red', 'm2', '2024-04-30 10:39+08', '{vol2,off2}'),
  ('r5', 'red', 'm1', '2024-04-30 11:32+08', '{vol1,off1}'),
  ('r6', 'red', 'm2', '2024-04-30 12:25+08', '{vol2,off2}'),
  ('y1', 'yellow', 'm1', '2024-04-30 13:18+08', '{pro,cadre}'),
  ('y2', 'yellow', 'm2', '2024-04-30 14:11+08', '{pro,cadre}'),
  ('b1', 'blue', 'm1', '2024-04-30 15:04+08', '{pro,cadre}'),
  ('b2', 'blue', 'm2', '2024-04-30 15:57+08', '{cadre,pro}');
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, d || '/' || x.label,
       CASE x.tier WHEN 'red' THEN '{accident_risk}'::text[] WHEN 'yellow' THEN '{partial_care,unstable_chronic}' ELSE '{mobility_impaired}' END,
       x.registered_at
  FROM unnest(ARRAY['x', 'y', 'z']) d, rnd_resident x, area a
 WHERE a.path = (d || '.t.v.tg.g.' || x.grid)::ltree
 ORDER BY d, x.label;
INSERT INTO carer (resident_id, worker_id)
SELECT pg_temp.resident_id(d || '/' || x.label), pg_temp.worker_id(d || '/' || c)
  FROM unnest(ARRAY['x', 'y', 'z']) d, rnd_resident x, unnest(x.carers) c;

-- The visits, drawn once (setseed) and played by all three runs: gaps from
-- the last visit (or registration) mostly in time, some hours late, some
-- days late; now and then a second carer comes 7-50 minutes after the first.
-- Every visit to be synced late in run y gets a delay of 1-72 hours (~40 %).
CREATE TEMP TABLE rnd_visit (label text, wk text, at timestamptz, delay interval);
DO $$
DECLARE
	t_end CONSTANT timestamptz := '2024-06-15 00:00+08';
	x record;
	t timestamptz;
	u float8;
	gap interval;
	k int;
BEGIN
	PERFORM setseed(0.1907);
	FOR x IN SELECT * FROM rnd_resident ORDER BY label LOOP
		t := x.registered_at;
		LOOP
			u := random();
			gap := CASE x.tier
			       WHEN 'red' THEN CASE WHEN u < 0.55 THEN interval '20 hours' + random() * interval '27 hours'	-- in time
			                            WHEN u < 0.85 THEN interval '48 hours' + random() * interval '15 hours'	-- hours late
			                            ELSE interval '3 days' + random() * interval '3 days' END				-- days late
			       WHEN 'yellow' THEN interval '2 days' + random() * interval '9 days'
			       ELSE interval '10 days' + random() * interval '30 days' END;
			t := date_trunc('minute', t + gap);
			EXIT WHEN t > t_end - interval '2 hours';
			k := 1 + (random() < 0.5)::int;
			INSERT INTO rnd_visit VALUES (x.label, x.carers[k], t, NULL);
			IF random() < 0.12 THEN
				t := t + interval '7 minutes' + date_trunc('minute', random() * interval '43 minutes');
				INSERT INTO rnd_visit VALUES (x.label, x.carers[3 - k], t, NULL);
			END IF;
		END LOOP;
	END LOOP;
	FOR x IN SELECT label, at FROM rnd_visit ORDER BY label, at LOOP
		IF random() < 0.4 THEN
			UPDATE rnd_visit SET delay = interval '1 hour' + date_trunc('minute', random() * interval '71 hours')
			 WHERE label = x.label AND at = x.at;
		END IF;
	END LOOP;
END
$$;
-- x: each visit synced at its own time; y: late ones delay later (at most
-- at the end); z: all at the end, newest first.
TRUNCATE script;
INSERT INTO script (res, wk, at, sync_at, seq)
SELECT 'x/' || label, 'x/' || wk, at, at, 0 FROM rnd_visit
UNION ALL
SELECT 'y/' || label, 'y/' || wk, at, least(at + coalesce(delay, '0'), '2024-06-15 00:00+08'), 0 FROM rnd_visit
UNION ALL
SELECT 'z/' || label, 'z/' || wk, at, '2024-06-15 00:00+08', -row_number() OVER (ORDER BY at) FROM rnd_visit;
SELECT pg_temp.replay('2024-04-30 17:00+08', '2024-06-15 00:00+08');

-- the replay is worth something: red windows met, missed for hours and for
-- days, events still open at the end; and in run y visits that reached the
-- server after a later visit of the same resident (and after sweeps)
SELECT ok((SELECT count(*) FROM rnd_visit) BETWEEN 100 AND 400
          AND (SELECT count(DISTINCT level) FROM pg_temp.events('x')) = 4
          AND (SELECT count(*) FROM pg_temp.events('x') WHERE status = 'closed' AND level = 1) > 0
          AND (SELECT count(*) FROM pg_temp.events('x') WHERE status <> 'closed') > 0
          AND (SELECT count(*) FROM rnd_visit v WHERE v.delay IS NOT NULL
                  AND EXISTS (SELECT 1 FROM rnd_visit o WHERE o.label = v.label AND o.at > v.at
                                 AND o.at + coalesce(o.delay, '0') < v.at + v.delay)) >= 20,
          'the random replay has visits in time, events at every level, open ones, and 20+ visits synced after a later one');

-- (c) The reference, from the visit times alone, for the red residents
-- (rolling 2 days, a step every 4 hours): anchors a0 = registered_at < a1
-- < ... (the visits); each gap with a_i + 2 days <= a_{i+1} is one event due
-- a_i + 2 days, closed at a_{i+1} at level 1 + the steps at due + 4 h, 8 h,
-- 12 h reached by a_{i+1}; the gap after the last visit is open at the level
-- reached by the last sweep (2024-06-15 00:00+08).  A gap with
-- a_{i+1} < a_i + 2 days is a window met, in the month (Asia/Shanghai) of
-- a_i + 2 days; a missed one counts in the month of its due time.  Each
-- window counts for both carers of the resident.
CREATE TEMP TABLE ref_gap AS
WITH anchors AS (
	SELECT label, registered_at AS a FROM rnd_resident WHERE tier = 'red'
	UNION ALL
	SELECT v.label, v.at FROM rnd_visit v JOIN rnd_resident x USING (label) WHERE x.tier = 'red'
), gaps AS (
	SELECT label, a + interval '2 days' AS due, lead(a) OVER (PARTITION BY label ORDER BY a) AS next_visit FROM anchors
)
SELECT label, due, next_visit, coalesce(next_visit, '2024-06-15 00:00+08') AS upto FROM gaps;
CREATE TEMP TABLE ref_event AS
SELECT label, due, CASE WHEN next_visit IS NULL THEN 'open' ELSE 'closed' END AS status,
       (1 + (due + interval '4 hours' <= upto)::int + (due + interval '8 hours' <= upto)::int
          + (due + interval '12 hours' <= upto)::int)::smallint AS level,
       next_visit AS resolved_at
  FROM ref_gap WHERE due <= upto;

SELECT results_eq(
  $$SELECT e.resident, e.due_at, CASE WHEN e.status = 'closed' THEN 'closed' ELSE 'open' END, e.level, e.level_since, e.resolved_at, e.visit_at
      FROM pg_temp.events('x') e JOIN rnd_resident x ON x.label = e.resident WHERE x.tier = 'red' ORDER BY 1, 2$$,
  $$SELECT label, due, status, level, due + (level - 1) * interval '4 hours', resolved_at, resolved_at FROM ref_event ORDER BY 1, 2$$,
  'x (in time order, hourly sweeps): red events as the visit times say (due, status, level, level_since, resolved_at, closing visit)');
SELECT results_eq(
  $$SELECT s.resident, s.due_at, s.level, s.at FROM pg_temp.steps('x') s JOIN rnd_resident x ON x.label = s.resident
     WHERE x.tier = 'red' ORDER BY 1, 2, 3$$,
  $$SELECT label, due, k::smallint, due + (k - 1) * interval '4 hours' FROM ref_event, generate_series(1, level) k ORDER BY 1, 2, 3$$,
  'x: red steps at due, +4 h, +8 h, +12 h as far as each event climbed');
SELECT results_eq(
  $$SELECT * FROM pg_temp.tally('x') WHERE worker IN ('vol1', 'vol2', 'off1', 'off2')$$,
  $$SELECT c, date_trunc('month', g.due AT TIME ZONE 'Asia/Shanghai')::date AS month,
           count(*) FILTER (WHERE g.next_visit < g.due), count(*) FILTER (WHERE g.due <= g.upto)
      FROM ref_gap g JOIN rnd_resident x USING (label), unnest(x.carers) c
     WHERE g.next_visit < g.due OR g.due <= g.upto
     GROUP BY 1, 2 ORDER BY 1, 2$$,
  'x: the red carers'' windows met and missed per month as the visit times say');

SELECT results_eq($$SELECT * FROM pg_temp.events('y')$$, $$SELECT * FROM pg_temp.events('x')$$,
  'y (40 % synced 1-72 h late): the same events as in time order');
SELECT results_eq($$SELECT * FROM pg_temp.steps('y')$$, $$SELECT * FROM pg_temp.steps('x')$$,
  'y: the same escalation steps');
SELECT results_eq($$SELECT * FROM pg_temp.tally('y')$$, $$SELECT * FROM pg_temp.tally('x')$$,
  'y: the same windows met and missed per worker and month');
SELECT results_eq(
  $$SELECT e.resident, e.due_at, CASE WHEN e.status = 'closed' THEN 'closed' ELSE 'open' END, e.level, e.resolved_at
      FROM pg_temp.events('y') e JOIN rnd_resident x ON x.label = e.resident WHERE x.tier = 'red' ORDER BY 1, 2$$,
  $$SELECT label, due, status, level, resolved_at FROM ref_event ORDER BY 1, 2$$,
  'y: red events as the visit times say');
SELECT results_eq($$SELECT * FROM pg_temp.events('z')$$, $$SELECT * FROM pg_temp.events('x')$$,
  'z (every visit synced at the end, newest first): the same events as in time order');
SELECT results_eq($$SELECT * FROM pg_temp.steps('z')$$, $$SELECT * FROM pg_temp.steps('x')$$,
  'z: the same escalation steps');
SELECT results_eq($$SELECT * FROM pg_temp.tally('z')$$, $$SELECT * FROM pg_temp.tally('x')$$,
  'z: the same windows met and missed per worker and month');
SELECT results_eq($$SELECT * FROM pg_temp.anchors('y') UNION ALL SELECT * FROM pg_temp.anchors('z')$$,
                  $$SELECT * FROM pg_temp.anchors('x') UNION ALL SELECT * FROM pg_temp.anchors('x')$$,
  'y and z end with the same last_visit_at and next_visit as x');

SELECT * FROM finish();
ROLLBACK;
