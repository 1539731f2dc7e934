-- pgTAP: the closed loop (spec 7) — raise_event, dispatch_task, arrive,
-- handle_event, whistle, feed_back, evaluate: every stage transition, every
-- refusal with its SQLSTATE, retries, the clocks (loop_policy, sweeps at
-- logical times, late-synced arrivals and handlings), and the views
-- loop_metrics, open_events and worker_load.  Every expected time, level and
-- number is written by hand from the README's rules, never read back from
-- the functions under test.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL sanse.timezone = 'Asia/Shanghai';	-- months and clocks in the README's zone (the default)
SET LOCAL TimeZone = 'Asia/Shanghai';	-- the same zone: to_char below prints local times
SET LOCAL sanse.max_backdate = '10 years';	-- loop times dated in 2024
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(256);

-----------------------------------------------------------------------------
-- helpers
-----------------------------------------------------------------------------
-- events by a name this file gives them
CREATE TEMP TABLE ev (name text PRIMARY KEY, id bigint NOT NULL);
CREATE FUNCTION pg_temp.ev(n text) RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT id FROM ev WHERE name = n
$$;
-- an event's stage, level, assignee and next step (local time)
CREATE FUNCTION pg_temp.state(e bigint) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT format('%s L%s %s next %s', x.status, x.level, coalesce(w.name, '-'),
	              coalesce(to_char(x.next_step_at, 'MM-DD HH24:MI'), '-'))
	  FROM sanse.event x LEFT JOIN sanse.worker w ON w.id = x.assignee_id WHERE x.id = e
$$;
-- an event's escalation steps: level, local time, assignee
CREATE FUNCTION pg_temp.steps(e bigint) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT coalesce(string_agg(format('L%s %s %s', s.level, to_char(s.at, 'MM-DD HH24:MI'), coalesce(w.name, '-')),
	                           ', ' ORDER BY s.at, s.level), '')
	  FROM sanse.event_step s LEFT JOIN sanse.worker w ON w.id = s.assignee_id WHERE s.event_id = e
$$;
-- an event's transitions: stage, local time, worker, note
CREATE FUNCTION pg_temp.transitions(e bigint) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT coalesce(string_agg(format('%s %s %s%s', t.stage, to_char(t.at, 'MM-DD HH24:MI'), coalesce(w.name, '-'),
	                                  coalesce(' "' || t.note || '"', '')), ', ' ORDER BY t.at, t.id), '')
	  FROM sanse.event_transition t LEFT JOIN sanse.worker w ON w.id = t.worker_id WHERE t.event_id = e
$$;
-- the text of each loop call, for sqlstate_of / sqlstate_session
CREATE FUNCTION pg_temp.lit(w bigint) RETURNS text LANGUAGE sql AS $$ SELECT coalesce(w::text, 'NULL') $$;
CREATE FUNCTION pg_temp.arrive_sql(e bigint, w bigint, tok text, at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT sanse.arrive(%s, %s, %L, %L)', pg_temp.lit(e), pg_temp.lit(w), tok, at)
$$;
CREATE FUNCTION pg_temp.handle_sql(e bigint, w bigint, action text, at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT sanse.handle_event(%s, %s, %L, %L)', pg_temp.lit(e), pg_temp.lit(w), action, at)
$$;
CREATE FUNCTION pg_temp.whistle_sql(e bigint, dept text, w bigint, at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT sanse.whistle(%s, %L, %s, %L)', pg_temp.lit(e), dept, pg_temp.lit(w), at)
$$;
CREATE FUNCTION pg_temp.feed_back_sql(e bigint, w bigint, note text, at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT sanse.feed_back(%s, %s, %L, %L)', pg_temp.lit(e), pg_temp.lit(w), note, at)
$$;
CREATE FUNCTION pg_temp.evaluate_sql(e bigint, rating int, solved boolean, by text, cmt text, at timestamptz) RETURNS text
LANGUAGE sql AS $$
	SELECT format('SELECT sanse.evaluate(%s, %s::smallint, %s, %L, %L, %L)', pg_temp.lit(e), coalesce(rating::text, 'NULL'),
	              coalesce(solved::text, 'NULL'), by, cmt, at)
$$;
-- raise a warning about a resident (by name) and remember it under a name
CREATE FUNCTION pg_temp.raise(n text, kind text, res text, at timestamptz, scale text DEFAULT 'grid') RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO ev (name, id) VALUES (n, sanse.raise_event(kind, pg_temp.resident_id(res), n, scale, at)) RETURNING id
$$;
-- the full path of a call: arrive (with the door token), handle, feed back
CREATE FUNCTION pg_temp.go(e bigint, w text, res text, arrived timestamptz, handled timestamptz DEFAULT NULL,
                           fed_back timestamptz DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sanse.arrive(e, pg_temp.worker_id(w), CASE WHEN res IS NOT NULL THEN pg_temp.token(res) END, arrived);
	IF handled IS NOT NULL THEN
		PERFORM sanse.handle_event(e, pg_temp.worker_id(w), 'done', handled);
	END IF;
	IF fed_back IS NOT NULL THEN
		PERFORM sanse.feed_back(e, pg_temp.worker_id(w), 'told the family', fed_back);
	END IF;
END
$$;
CREATE FUNCTION pg_temp.sweep(at timestamptz) RETURNS void LANGUAGE sql AS $$ SELECT sanse.sweep(at) $$;

-----------------------------------------------------------------------------
-- fixture: the shared district, two departments, Wang's carers and the
-- workers not allowed at his door (as 08_check_in), residents registered now
-- (their first windows are due in the future: sweeps dated 2024 open no
-- overdue events)
-----------------------------------------------------------------------------
INSERT INTO department (code, name) VALUES ('civil', 'Civil affairs'), ('housing', 'Housing');
INSERT INTO worker (name, force, role, area_id, active, db_role, department)
SELECT v.name, v.force, v.role, a.id, true, v.db_role, v.dept
  FROM (VALUES
    ('vol', 'volunteer', 'member', 'd.t.v.tg.g.m1', NULL::name, NULL::text),
    ('bound', 'department_staff', 'member', 'd.t', 'sanse_t15_app', NULL),
    ('retired', 'service_professional', 'member', 'd.t.v', NULL, NULL),
    ('neighbour', 'volunteer', 'member', 'd.t.v.tg.g.m1', NULL, NULL),
    ('old lead m1', 'grid_officer', 'micro_grid_leader', 'd.t.v.tg.g.m1', NULL, NULL),
    ('civil staff', 'department_staff', 'member', 'd', NULL, 'civil'),
    ('housing staff', 'department_staff', 'member', 'd', NULL, 'housing'),
    ('lead m4', 'grid_officer', 'micro_grid_leader', 'd.t.v.tg2.g.m4', NULL, NULL),
    ('wl', 'volunteer', 'member', 'd.t.v.tg2.g.m4', NULL, NULL)
  ) v(name, force, role, path, db_role, dept)
  JOIN area a ON a.path = v.path::ltree;
INSERT INTO resident (area_id, name, factors)
SELECT a.id, v.name, v.f
  FROM (VALUES ('Wang', '{accident_risk}'::text[], 'd.t.v.tg.g.m1'),      -- red
               ('Li', '{accident_risk}', 'd.t.v.tg.g.m1'),                -- red, another door
               ('Yu', '{partial_care,unstable_chronic}', 'd.t.v.tg.g.m1'), -- yellow
               ('Bo', '{mobility_impaired}', 'd.t.v.tg.g.m1'),            -- blue
               ('Ma', '{accident_risk}', 'd.t.v.tg.g.m2'),                -- red, for loop_metrics
               ('Mo', '{accident_risk}', 'd.t.v.tg2.g.m4'),               -- worker_load: red
               ('Mu', '{partial_care,unstable_chronic}', 'd.t.v.tg2.g.m4'), -- yellow
               ('Mi', '{mobility_impaired}', 'd.t.v.tg2.g.m4')            -- blue
       ) v(name, f, path)
  JOIN area a ON a.path = v.path::ltree;
INSERT INTO carer (resident_id, worker_id)
SELECT pg_temp.resident_id(v.r), pg_temp.worker_id(v.w)
  FROM (VALUES ('Wang', 'vol'), ('Wang', 'bound'), ('Wang', 'retired'), ('Yu', 'vol'), ('Bo', 'vol'),
               ('Mo', 'wl'), ('Mu', 'wl'), ('Mi', 'wl')) v(r, w);
UPDATE worker SET active = false WHERE name IN ('retired', 'old lead m1');

CREATE ROLE sanse_t15_app NOLOGIN;
CREATE ROLE sanse_t15_other NOLOGIN;
CREATE ROLE sanse_t15_member NOLOGIN IN ROLE sanse_t15_app;
GRANT EXECUTE ON FUNCTION sanse.arrive(bigint, bigint, text, timestamptz),
                          sanse.handle_event(bigint, bigint, text, timestamptz),
                          sanse.feed_back(bigint, bigint, text, timestamptz),
                          sanse.evaluate(bigint, integer, boolean, text, text, timestamptz)
   TO sanse_t15_app, sanse_t15_other, sanse_t15_member;
-- the sessions of these roles act only where they hold care (issue 18)
INSERT INTO area_grant (role, path, access) VALUES ('sanse_t15_app', 'd', 'care'), ('sanse_t15_other', 'd', 'care');

-- Wang's door: the token revoked once (old_tok), the current one, and Li's
SELECT pg_temp.token('Wang') AS old_tok \gset
SELECT revoke_door_token(pg_temp.resident_id('Wang')) AS tok \gset
SELECT pg_temp.token('Li') AS li_tok \gset
SELECT pg_temp.worker_id('vol') AS vol \gset

-----------------------------------------------------------------------------
-- the functions
-----------------------------------------------------------------------------
SELECT has_function('sanse', f, args, format('%s(%s) exists', f, array_to_string(args, ', ')))
  FROM (VALUES ('raise_event', ARRAY['text', 'bigint', 'text', 'text', 'timestamp with time zone', 'bigint']),
               ('dispatch_task', ARRAY['bigint', 'text', 'text', 'timestamp with time zone', 'bigint']),
               ('arrive', ARRAY['bigint', 'bigint', 'text', 'timestamp with time zone']),
               ('handle_event', ARRAY['bigint', 'bigint', 'text', 'timestamp with time zone']),
               ('whistle', ARRAY['bigint', 'text', 'bigint', 'timestamp with time zone']),
               ('feed_back', ARRAY['bigint', 'bigint', 'text', 'timestamp with time zone']),
               ('evaluate', ARRAY['bigint', 'integer', 'boolean', 'text', 'text', 'timestamp with time zone'])) t(f, args);
SELECT is(pg_get_function_result(p.oid), r, format('%s returns %s', p.proname, r))
  FROM pg_proc p, (VALUES ('raise_event', 'bigint'), ('dispatch_task', 'bigint'), ('whistle', 'bigint'),
                          ('arrive', 'void'), ('handle_event', 'void'), ('feed_back', 'void'), ('evaluate', 'void')) t(f, r)
 WHERE p.pronamespace = 'sanse'::regnamespace AND p.proname = t.f;
SELECT ok(bool_and(p.prosecdef), 'the seven loop functions are SECURITY DEFINER')
  FROM pg_proc p WHERE p.pronamespace = 'sanse'::regnamespace
   AND p.proname IN ('raise_event', 'dispatch_task', 'arrive', 'handle_event', 'whistle', 'feed_back', 'evaluate');
SELECT ok(NOT bool_or(has_function_privilege('public', p.oid, 'EXECUTE')), 'and not executable by PUBLIC')
  FROM pg_proc p WHERE p.pronamespace = 'sanse'::regnamespace
   AND p.proname IN ('raise_event', 'dispatch_task', 'arrive', 'handle_event', 'whistle', 'feed_back', 'evaluate');

-----------------------------------------------------------------------------
-- loop_policy: the README's defaults, unique (kind, tier) with NULLs not distinct
-----------------------------------------------------------------------------
SELECT results_eq(
  $$SELECT kind, tier::text, arrive_within, handle_within FROM sanse.loop_policy ORDER BY kind, tier::text NULLS FIRST$$,
  $$VALUES ('finding', NULL, interval '1 day', interval '3 days'),
           ('request', NULL, '2 hours', '1 day'),
           ('request', 'red', '30 minutes', '4 hours'),
           ('task', NULL, '1 day', '3 days'),
           ('warning', NULL, '15 minutes', '2 hours'),
           ('warning', 'blue', '15 minutes', '2 hours'),
           ('warning', 'red', '15 minutes', '2 hours'),
           ('warning', 'yellow', '15 minutes', '2 hours')$$,
  'loop_policy holds the README''s defaults (warning 15 min / 2 h every tier and none, request red 30 min / 4 h, others 2 h / 1 day, finding and task 1 day / 3 days)');
SELECT ok((SELECT i.indisunique AND i.indnullsnotdistinct FROM pg_index i WHERE i.indexrelid = 'sanse.loop_policy_once'::regclass),
          'loop_policy_once is a unique index on (kind, tier) with NULLs not distinct');
SELECT is(pg_temp.sqlstate_of($$UPDATE sanse.loop_policy SET tier = NULL WHERE kind = 'warning' AND tier = 'red'$$), '23505',
          'a second (warning, NULL) row is refused (23505): NULL tiers are not distinct');
INSERT INTO loop_policy (kind, tier, arrive_within, handle_within) VALUES ('finding', NULL, '12 hours', '2 days');
SELECT results_eq($$SELECT count(*), min(arrive_within), min(handle_within) FROM sanse.loop_policy WHERE kind = 'finding'$$,
                  $$VALUES (1::bigint, interval '12 hours', interval '2 days')$$,
                  'inserting an existing (kind, NULL tier) replaces its intervals (one row)');
INSERT INTO loop_policy (kind, tier, arrive_within, handle_within) VALUES ('finding', NULL, '1 day', '3 days');
SELECT is((SELECT count(*) FROM loop_policy), 8::bigint, 'and the defaults are back: eight rows');
SELECT is(pg_temp.sqlstate_of($$INSERT INTO sanse.loop_policy VALUES ('overdue', NULL, '1 hour', '1 hour')$$), '23514',
          'overdue has no loop policy (23514)');

-----------------------------------------------------------------------------
-- raise_event: each kind at each scale (Wang is red, in M1; 2024-03-04)
--   grid starts at level 1 (lead m1), department at 3 (lead tg), task_force
--   at 4 (task force, no clock); the first arrival step is called_at +
--   arrive_within: warning 15 min, request (red) 30 min, finding and task 1 day
-----------------------------------------------------------------------------
INSERT INTO ev (name, id)
SELECT k || '/' || s, raise_event(k, pg_temp.resident_id('Wang'), 'about Wang: ' || k, s,
                                  timestamptz '2024-03-04 09:00+08' + i * interval '1 minute', pg_temp.worker_id('lead g'))
  FROM (VALUES ('warning', 'grid', 0), ('warning', 'department', 1), ('warning', 'task_force', 2),
               ('finding', 'grid', 3), ('finding', 'department', 4), ('finding', 'task_force', 5),
               ('request', 'grid', 6), ('request', 'department', 7), ('request', 'task_force', 8),
               ('task', 'grid', 9), ('task', 'department', 10), ('task', 'task_force', 11)) v(k, s, i);
SELECT is(format('%s | %s | %s', pg_temp.state(pg_temp.ev(n)), pg_temp.steps(pg_temp.ev(n)), pg_temp.transitions(pg_temp.ev(n))),
          expected, 'raise_event ' || n || ': called at its scale''s level, its leader, first step, clock and transition')
  FROM (VALUES
    ('warning/grid', 'called L1 lead m1 next 03-04 09:15 | L1 03-04 09:00 lead m1 | called 03-04 09:00 lead g "about Wang: warning"'),
    ('warning/department', 'called L3 lead tg next 03-04 09:16 | L3 03-04 09:01 lead tg | called 03-04 09:01 lead g "about Wang: warning"'),
    ('warning/task_force', 'called L4 task force next - | L4 03-04 09:02 task force | called 03-04 09:02 lead g "about Wang: warning"'),
    ('finding/grid', 'called L1 lead m1 next 03-05 09:03 | L1 03-04 09:03 lead m1 | called 03-04 09:03 lead g "about Wang: finding"'),
    ('finding/department', 'called L3 lead tg next 03-05 09:04 | L3 03-04 09:04 lead tg | called 03-04 09:04 lead g "about Wang: finding"'),
    ('finding/task_force', 'called L4 task force next - | L4 03-04 09:05 task force | called 03-04 09:05 lead g "about Wang: finding"'),
    ('request/grid', 'called L1 lead m1 next 03-04 09:36 | L1 03-04 09:06 lead m1 | called 03-04 09:06 lead g "about Wang: request"'),
    ('request/department', 'called L3 lead tg next 03-04 09:37 | L3 03-04 09:07 lead tg | called 03-04 09:07 lead g "about Wang: request"'),
    ('request/task_force', 'called L4 task force next - | L4 03-04 09:08 task force | called 03-04 09:08 lead g "about Wang: request"'),
    ('task/grid', 'called L1 lead m1 next 03-05 09:09 | L1 03-04 09:09 lead m1 | called 03-04 09:09 lead g "about Wang: task"'),
    ('task/department', 'called L3 lead tg next 03-05 09:10 | L3 03-04 09:10 lead tg | called 03-04 09:10 lead g "about Wang: task"'),
    ('task/task_force', 'called L4 task force next - | L4 03-04 09:11 task force | called 03-04 09:11 lead g "about Wang: task"')
  ) t(n, expected);
SELECT results_eq(
  $$SELECT e.kind, e.scale, e.resident_id, e.area_id, e.tier::text, e.called_at, e.due_at, e.raised_by, e.parent_id, e.reopened
      FROM sanse.event e WHERE e.id = pg_temp.ev('request/department')$$,
  $$SELECT 'request'::text, 'department'::text, pg_temp.resident_id('Wang'), pg_temp.area_id('d.t.v.tg.g.m1'), 'red'::text,
           timestamptz '2024-03-04 09:07+08', timestamptz '2024-03-04 09:07+08', pg_temp.worker_id('lead g'), NULL::bigint, 0$$,
  'the event stores kind, scale, resident, the resident''s micro grid and tier, called_at, raised_by; no parent, never reopened');
SELECT raise_event('request', pg_temp.resident_id('Yu'), 'Yu asks', 'grid', '2024-03-04 10:00+08') AS x1,
       raise_event('warning', pg_temp.resident_id('Bo'), 'Bo fell', 'grid', '2024-03-04 10:00+08') AS x2 \gset
SELECT is(pg_temp.state(:x1),
          'called L1 lead m1 next 03-04 12:00', 'a request for a yellow resident (no row of its own) takes the tier-NULL row: 2 hours');
SELECT is(pg_temp.state(:x2),
          'called L1 lead m1 next 03-04 10:15', 'a warning for a blue resident: 15 minutes');
SELECT raise_event('finding', pg_temp.resident_id('Bo'), 'found at the door') AS fid \gset
SELECT results_eq(format('SELECT scale, called_at, raised_by FROM sanse.event WHERE id = %s', :fid),
                  $$VALUES ('grid'::text, now(), NULL::bigint)$$, 'scale defaults to grid, at to now(), raised_by to NULL');

-- retries
SELECT is(raise_event('warning', pg_temp.resident_id('Wang'), 'about Wang: warning', 'grid', '2024-03-04 09:00+08', pg_temp.worker_id('lead g')),
          pg_temp.ev('warning/grid'), 'raise_event retried (same kind, resident, time, author, detail) returns the same id');
SELECT is((SELECT count(*) FROM event WHERE resident_id = pg_temp.resident_id('Wang') AND called_at = '2024-03-04 09:00+08'), 1::bigint,
          'and makes no second event');
SELECT isnt(raise_event('warning', pg_temp.resident_id('Wang'), 'another detail', 'grid', '2024-03-04 09:00+08', pg_temp.worker_id('lead g')),
            pg_temp.ev('warning/grid'), 'another detail at the same time is another event');

-- dispatch_task: a task about an area, no resident, the tier-NULL row's clock
INSERT INTO ev SELECT 'dispatched', dispatch_task(pg_temp.area_id('d.t.v.tg.g.m1'), 'clear the stairwell', 'grid', '2024-03-04 11:00+08', pg_temp.worker_id('lead g'));
SELECT is(format('%s | %s | %s', pg_temp.state(pg_temp.ev('dispatched')), pg_temp.steps(pg_temp.ev('dispatched')), pg_temp.transitions(pg_temp.ev('dispatched'))),
          'called L1 lead m1 next 03-05 11:00 | L1 03-04 11:00 lead m1 | called 03-04 11:00 lead g "clear the stairwell"',
          'dispatch_task: called at level 1, lead m1, next step a day later');
SELECT results_eq($$SELECT kind, resident_id, tier, area_id FROM sanse.event WHERE id = pg_temp.ev('dispatched')$$,
                  $$SELECT 'task'::text, NULL::bigint, NULL::sanse.risk_tier, pg_temp.area_id('d.t.v.tg.g.m1')$$,
                  'a dispatched task has kind task, no resident, no tier, the area given');
SELECT dispatch_task(pg_temp.area_id('d.t.v.tg.g.m1'), 'repair the gate', 'department', '2024-03-04 11:01+08') AS x1,
       dispatch_task(pg_temp.area_id('d.t.v.tg.g.m1'), 'flood drill', 'task_force', '2024-03-04 11:02+08') AS x2 \gset
SELECT is(pg_temp.state(:x1),
          'called L3 lead tg next 03-05 11:01', 'a department task starts at level 3 (lead tg)');
SELECT is(pg_temp.state(:x2),
          'called L4 task force next -', 'a task-force task starts at level 4 with no clock');
SELECT is(dispatch_task(pg_temp.area_id('d.t.v.tg.g.m1'), 'clear the stairwell', 'grid', '2024-03-04 11:00+08', pg_temp.worker_id('lead g')),
          pg_temp.ev('dispatched'), 'dispatch_task retried returns the same id');

-- refusals of a call
SELECT count(*) AS events_before FROM event \gset
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('an unknown kind is 22023', format('SELECT sanse.raise_event(''alarm'', %s, ''x'')', pg_temp.resident_id('Wang')), '22023'),
    ('kind overdue is refused (22023)', format('SELECT sanse.raise_event(''overdue'', %s, ''x'')', pg_temp.resident_id('Wang')), '22023'),
    ('a NULL kind is 22023', format('SELECT sanse.raise_event(NULL, %s, ''x'')', pg_temp.resident_id('Wang')), '22023'),
    ('kinds are exact (Warning is unknown, 22023)', format('SELECT sanse.raise_event(''Warning'', %s, ''x'')', pg_temp.resident_id('Wang')), '22023'),
    ('an unknown scale is 22023', format('SELECT sanse.raise_event(''warning'', %s, ''x'', ''city'')', pg_temp.resident_id('Wang')), '22023'),
    ('a NULL scale is 22023', format('SELECT sanse.raise_event(''warning'', %s, ''x'', NULL)', pg_temp.resident_id('Wang')), '22023'),
    ('an unknown resident is 22023', 'SELECT sanse.raise_event(''warning'', 999999999, ''x'')', '22023'),
    ('a NULL resident is 22023', 'SELECT sanse.raise_event(''warning'', NULL, ''x'')', '22023'),
    ('an unknown raised_by is 22023',
     format('SELECT sanse.raise_event(''warning'', %s, ''x'', ''grid'', now(), 999999999)', pg_temp.resident_id('Wang')), '22023'),
    ('a detail of 2001 characters is 22001',
     format('SELECT sanse.raise_event(''warning'', %s, repeat(''x'', 2001))', pg_temp.resident_id('Wang')), '22001'),
    ('six minutes ahead of the clock is 22008',
     format('SELECT sanse.raise_event(''warning'', %s, ''x'', ''grid'', clock_timestamp() + interval ''6 minutes'')', pg_temp.resident_id('Wang')), '22008'),
    ('infinity is 22008', format('SELECT sanse.raise_event(''warning'', %s, ''x'', ''grid'', ''infinity'')', pg_temp.resident_id('Wang')), '22008'),
    ('dispatch_task: an unknown area is 22023', 'SELECT sanse.dispatch_task(999999999, ''x'')', '22023'),
    ('dispatch_task: a NULL area is 22023', 'SELECT sanse.dispatch_task(NULL, ''x'')', '22023'),
    ('dispatch_task: an unknown scale is 22023', format('SELECT sanse.dispatch_task(%s, ''x'', ''city'')', pg_temp.area_id('d.t.v.tg.g.m1')), '22023'),
    ('dispatch_task: an unknown raised_by is 22023',
     format('SELECT sanse.dispatch_task(%s, ''x'', ''grid'', now(), 999999999)', pg_temp.area_id('d.t.v.tg.g.m1')), '22023'),
    ('dispatch_task: a detail of 2001 characters is 22001',
     format('SELECT sanse.dispatch_task(%s, repeat(''x'', 2001))', pg_temp.area_id('d.t.v.tg.g.m1')), '22001'),
    ('dispatch_task: six minutes ahead is 22008',
     format('SELECT sanse.dispatch_task(%s, ''x'', ''grid'', clock_timestamp() + interval ''6 minutes'')', pg_temp.area_id('d.t.v.tg.g.m1')), '22008')
  ) t(description, stmt, expected);
SELECT is((SELECT count(*) FROM event), :events_before::bigint, 'no refused call stored an event');
SELECT throws_ok(format('SELECT sanse.raise_event(''alarm'', %s, ''x'')', pg_temp.resident_id('Wang')), '22023', 'unknown event kind "alarm"',
                 'the message names the unknown kind');
SELECT lives_ok(format('SELECT sanse.raise_event(''warning'', %s, repeat(''x'', 2000), ''grid'', clock_timestamp() + interval ''4 minutes'')',
                       pg_temp.resident_id('Bo')),
                'a detail of 2000 characters four minutes ahead of the clock is accepted');

-----------------------------------------------------------------------------
-- arrive (2024-03-05): the door token, who may arrive, stages, times
-----------------------------------------------------------------------------
SELECT pg_temp.raise('W1', 'warning', 'Wang', '2024-03-05 09:00+08') IS NOT NULL AS raised \gset
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('W1'), :vol, t, '2024-03-05 09:05+08')), '28000', description)
  FROM (VALUES
    ('a missing token is 28000', NULL),
    ('a malformed token is 28000', 'abc'),
    ('a forged token is 28000',
     overlay(:'tok' PLACING CASE WHEN substr(:'tok', 35, 1) = 'Q' THEN 'R' ELSE 'Q' END FROM 35 FOR 1)),
    ('an unknown (signed, naming no door) token is 28000', sanse.door_token_sign(gen_random_bytes(15))),
    ('a revoked token is 28000', :'old_tok'),
    ('another door''s token is 28000', :'li_tok')
  ) t(description, t);
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('W1'), pg_temp.worker_id(w), :'tok', '2024-03-05 09:05+08')), '42501',
          format('%s may not arrive at Wang''s (42501)', w))
  FROM unnest(ARRAY['neighbour', 'lead m2', 'lead g2', 'lead tg2', 'task force e', 'old lead m1', 'retired',
                    'civil staff', 'housing staff']) w;
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('W1'), 999999999, :'tok', '2024-03-05 09:05+08')), '42501',
          'a worker that does not exist may not arrive (42501)');
SELECT is(pg_temp.sqlstate_session('sanse_t15_other', pg_temp.arrive_sql(pg_temp.ev('W1'), pg_temp.worker_id('bound'), :'tok', '2024-03-05 09:05+08')),
          '42501', 'a carer bound to a db_role may not arrive from another role''s session (42501)');
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('an event that does not exist is 22023', pg_temp.arrive_sql(999999999, :vol, :'tok', '2024-03-05 09:05+08'), '22023'),
    ('an arrival dated before the call is 22008', pg_temp.arrive_sql(pg_temp.ev('W1'), :vol, :'tok', '2024-03-05 08:59+08'), '22008'),
    ('an arrival six minutes ahead is 22008',
     format('SELECT sanse.arrive(%s, %s, %L, clock_timestamp() + interval ''6 minutes'')', pg_temp.ev('W1'), :vol, :'tok'), '22008')
  ) t(description, stmt, expected);
SELECT is(pg_temp.state(pg_temp.ev('W1')) || ' | ' || pg_temp.transitions(pg_temp.ev('W1')),
          'called L1 lead m1 next 03-05 09:15 | called 03-05 09:00 - "W1"', 'no refused arrival moved the event');

-- the LOG line of a refused token, read from the server log when it can be found
CREATE FUNCTION pg_temp.server_log() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	f text;
	probe text := 'sanse-t15-probe-' || md5(random()::text);
	cand text;
	size bigint;
BEGIN
	FOREACH cand IN ARRAY ARRAY[
		(SELECT CASE WHEN l LIKE '/%' THEN l ELSE current_setting('data_directory') || '/' || l END FROM pg_current_logfile() l),
		'/proc/' || split_part(pg_read_file('postmaster.pid'), E'\n', 1) || '/fd/2'] LOOP
		CONTINUE WHEN cand IS NULL;
		BEGIN
			size := (pg_stat_file(cand, true)).size;
			-- a regular file only: a pipe (the collector's) or /dev/null has size 0, and reading a pipe would block
			CONTINUE WHEN size IS NULL OR size = 0 OR (pg_stat_file(cand, true)).isdir;
			RAISE LOG '%', probe;
			FOR i IN 1..20 LOOP
				IF position(probe IN pg_read_file(cand, size, 1000000, true)) > 0 THEN
					RETURN cand;
				END IF;
				PERFORM pg_sleep(0.1);
			END LOOP;
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
	END LOOP;
	RETURN NULL;
END
$$;
-- what the log got from offset on, once a marker written now shows up
CREATE FUNCTION pg_temp.log_since(f text, off bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	probe text := 'sanse-t15-end-' || md5(random()::text);
	got text;
BEGIN
	RAISE LOG '%', probe;
	FOR i IN 1..50 LOOP
		got := pg_read_file(f, off, 10000000, true);
		IF position(probe IN got) > 0 THEN
			RETURN got;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN got;
END
$$;
SELECT coalesce(pg_temp.server_log(), '') AS logfile \gset
SELECT CASE WHEN :'logfile' = '' THEN 0 ELSE (pg_stat_file(:'logfile', true)).size END AS logoff \gset
SELECT pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('W1'), :vol, t, '2024-03-05 09:05+08')) AS refused
  FROM (VALUES (1, NULL), (2, 'abc'),
               (3, overlay(:'tok' PLACING CASE WHEN substr(:'tok', 35, 1) = 'Q' THEN 'R' ELSE 'Q' END FROM 35 FOR 1)),
               (4, sanse.door_token_sign(gen_random_bytes(15))), (5, :'old_tok'), (6, :'li_tok')) t(i, t)
 ORDER BY i \g /dev/null
SELECT CASE WHEN :'logfile' = '' THEN '' ELSE coalesce(pg_temp.log_since(:'logfile', :logoff), '') END AS logtext \gset
SELECT CASE WHEN :'logfile' = ''
            THEN skip('the server log could not be found from SQL (no pg_current_logfile, postmaster stderr not a file)', 7)
            ELSE collect_tap(
              ok(position(format('sanse: arrival by worker %s refused: missing door token', :vol) IN :'logtext') > 0,
                 'LOG: sanse: arrival by worker N refused: missing door token'),
              ok(position(format('sanse: arrival by worker %s refused: malformed door token', :vol) IN :'logtext') > 0,
                 'LOG: ... malformed door token'),
              ok(position(format('sanse: arrival by worker %s refused: forged door token', :vol) IN :'logtext') > 0,
                 'LOG: ... forged door token'),
              ok(position(format('sanse: arrival by worker %s refused: unknown door token', :vol) IN :'logtext') > 0,
                 'LOG: ... unknown door token'),
              ok(position(format('sanse: arrival by worker %s refused: revoked door token', :vol) IN :'logtext') > 0,
                 'LOG: ... revoked door token'),
              ok(position(format('sanse: arrival by worker %s refused: for another door', :vol) IN :'logtext') > 0,
                 'LOG: ... a token for another door'),
              ok(position(:'old_tok' IN :'logtext') = 0 AND position(:'li_tok' IN :'logtext') = 0,
                 'the log never carries the token'))
       END;

-- allowed: a carer with the door token
SELECT lives_ok(pg_temp.arrive_sql(pg_temp.ev('W1'), :vol, :'tok', '2024-03-05 09:10+08'), 'a carer with the door token arrives');
SELECT is(pg_temp.state(pg_temp.ev('W1')) || ' | ' || pg_temp.transitions(pg_temp.ev('W1')),
          'arrived L1 lead m1 next 03-05 11:10 | called 03-05 09:00 - "W1", arrived 03-05 09:10 vol',
          'arrived: the handling clock starts at arrived_at (2 hours), one arrived transition');
SELECT results_eq($$SELECT arrived_at, arrived_by FROM sanse.event WHERE id = pg_temp.ev('W1')$$,
                  $$VALUES (timestamptz '2024-03-05 09:10+08', pg_temp.worker_id('vol'))$$, 'arrived_at and arrived_by are stored');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('W1'), :vol, :'tok', '2024-03-05 09:10+08')), 'ok',
          'the same arrival retried (same worker, same at) returns as done');
SELECT is((SELECT count(*) FROM event_transition WHERE event_id = pg_temp.ev('W1') AND stage = 'arrived'), 1::bigint,
          'and records nothing twice');
-- a retry is checked like a check-in retry: the door token first (check_in refuses
-- a retried scan with a missing, forged or revoked token: 28000)
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('W1'), :vol, t, '2024-03-05 09:10+08')), '28000', description)
  FROM (VALUES
    ('a retried arrival without the token is 28000, as a retried check-in', NULL),
    ('a retried arrival with a forged token is 28000',
     overlay(:'tok' PLACING CASE WHEN substr(:'tok', 35, 1) = 'Q' THEN 'R' ELSE 'Q' END FROM 35 FOR 1)),
    ('a retried arrival with another door''s token is 28000', :'li_tok')
  ) t(description, t);
SELECT is(pg_temp.sqlstate_of(stmt), '55000', description)
  FROM (VALUES
    ('the same worker arriving again at another time is 55000 (wrong stage)', pg_temp.arrive_sql(pg_temp.ev('W1'), :vol, :'tok', '2024-03-05 09:20+08')),
    ('another worker at the same time is 55000', pg_temp.arrive_sql(pg_temp.ev('W1'), pg_temp.worker_id('lead m1'), :'tok', '2024-03-05 09:10+08'))
  ) t(description, stmt);
SELECT throws_like(pg_temp.arrive_sql(pg_temp.ev('W1'), :vol, :'tok', '2024-03-05 09:20+08'),
                   format('event %s is arrived%%', pg_temp.ev('W1')), 'the wrong-stage message names the event and its stage');

-- who may arrive: the carers and the four leaders whose areas contain Wang's door
INSERT INTO ev SELECT 'A/' || w, raise_event('warning', pg_temp.resident_id('Wang'), 'who arrives: ' || w, 'grid',
                                             timestamptz '2024-03-05 10:00+08' + i * interval '1 minute')
  FROM unnest(ARRAY['vol', 'lead m1', 'lead g', 'lead tg', 'task force', 'bound', 'bound/member']) WITH ORDINALITY u(w, i);
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('A/' || w), pg_temp.worker_id(w), :'tok', '2024-03-05 10:30+08')), 'ok',
          format('%s may arrive at Wang''s with the door token', w))
  FROM unnest(ARRAY['vol', 'lead m1', 'lead g', 'lead tg', 'task force']) w;
SELECT is(pg_temp.sqlstate_session('sanse_t15_app', pg_temp.arrive_sql(pg_temp.ev('A/bound'), pg_temp.worker_id('bound'), :'tok', '2024-03-05 10:30+08')),
          'ok', 'a carer bound to a db_role arrives from a session of that role');
SELECT is(pg_temp.sqlstate_session('sanse_t15_member', pg_temp.arrive_sql(pg_temp.ev('A/bound/member'), pg_temp.worker_id('bound'), :'tok', '2024-03-05 10:30+08')),
          'ok', 'or of a member of that role');

-- a task about an area: no token; leaders of the area, not its members
INSERT INTO ev SELECT 'T1', dispatch_task(pg_temp.area_id('d.t.v.tg.g.m1'), 'fix the lamp', 'grid', '2024-03-05 12:00+08');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('T1'), :vol, NULL, '2024-03-05 12:10+08')), '42501',
          'a member of the micro grid may not arrive at a task about the area (42501)');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('T1'), pg_temp.worker_id('lead m2'), NULL, '2024-03-05 12:10+08')), '42501',
          'nor the leader of another micro grid');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('T1'), pg_temp.worker_id('lead m1'), NULL, '2024-03-05 12:20+08')), 'ok',
          'its micro grid''s leader arrives at a task about the area without a token');
SELECT is(pg_temp.state(pg_temp.ev('T1')), 'arrived L1 lead m1 next 03-08 12:20', 'the task''s handling clock: 3 days from the arrival');

-- a late-synced arrival: the sweep stepped the called clock to level 4
-- (14:15, 14:30, 14:45); the arrival dated 14:20 removes 14:30 and 14:45 and
-- goes back to level 2 (lead g), its handling clock counted from 14:20
SELECT pg_temp.raise('W2', 'warning', 'Wang', '2024-03-05 14:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.sweep('2024-03-05 14:50+08');
SELECT is(pg_temp.state(pg_temp.ev('W2')) || ' | ' || pg_temp.steps(pg_temp.ev('W2')),
          'called L4 task force next - | L1 03-05 14:00 lead m1, L2 03-05 14:15 lead g, L3 03-05 14:30 lead tg, L4 03-05 14:45 task force',
          'a sweep at 14:50 climbed a 14:00 warning to level 4 at 14:15, 14:30, 14:45');
SELECT lives_ok(pg_temp.arrive_sql(pg_temp.ev('W2'), :vol, :'tok', '2024-03-05 14:20+08'), 'an arrival synced late, dated 14:20');
SELECT is(pg_temp.state(pg_temp.ev('W2')) || ' | ' || pg_temp.steps(pg_temp.ev('W2')),
          'arrived L2 lead g next 03-05 16:20 | L1 03-05 14:00 lead m1, L2 03-05 14:15 lead g',
          'removes the steps dated after it, goes back to level 2 and starts the handling clock at 14:20');
SELECT is((SELECT level_since FROM event WHERE id = pg_temp.ev('W2')), timestamptz '2024-03-05 14:15+08', 'level_since is the 14:15 step');
SELECT pg_temp.sweep('2024-03-05 16:19+08');
SELECT is(pg_temp.steps(pg_temp.ev('W2')), 'L1 03-05 14:00 lead m1, L2 03-05 14:15 lead g', 'no handling step before 16:20');
SELECT pg_temp.sweep('2024-03-05 23:00+08');
SELECT is(pg_temp.state(pg_temp.ev('W2')) || ' | ' || pg_temp.steps(pg_temp.ev('W2')),
          'arrived L4 task force next - | L1 03-05 14:00 lead m1, L2 03-05 14:15 lead g, L3 03-05 16:20 lead tg, L4 03-05 18:20 task force',
          'the handling clock climbs every 2 hours from the arrival (16:20, 18:20) up to level 4');
-- the steps due by a stage's end are reached whether or not a sweep took them
-- (spec 7: a step at s is reached when s <= the arrival or handling)
SELECT pg_temp.raise('W3', 'warning', 'Wang', '2024-03-05 17:00+08') IS NOT NULL AS raised \gset
SELECT lives_ok(pg_temp.arrive_sql(pg_temp.ev('W3'), :vol, :'tok', '2024-03-05 17:40+08'), 'an arrival 40 minutes after the call, no sweep in between');
SELECT is(pg_temp.state(pg_temp.ev('W3')) || ' | ' || pg_temp.steps(pg_temp.ev('W3')),
          'arrived L3 lead tg next 03-05 19:40 | L1 03-05 17:00 lead m1, L2 03-05 17:15 lead g, L3 03-05 17:30 lead tg',
          'reaches the steps at 17:15 and 17:30 (level 3), its handling clock from 17:40');
SELECT lives_ok(pg_temp.handle_sql(pg_temp.ev('W3'), :vol, 'late', '2024-03-05 22:00+08'), 'handled at 22:00, no sweep in between');
SELECT is(pg_temp.state(pg_temp.ev('W3')) || ' | ' || pg_temp.steps(pg_temp.ev('W3')),
          'handled L4 task force next - | L1 03-05 17:00 lead m1, L2 03-05 17:15 lead g, L3 03-05 17:30 lead tg, L4 03-05 19:40 task force',
          'reaches the handling clock''s 19:40 step (level 4) and stops');

-----------------------------------------------------------------------------
-- handle_event (2024-03-06)
-----------------------------------------------------------------------------
SELECT pg_temp.raise('H0', 'warning', 'Wang', '2024-03-06 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.raise('H1', 'warning', 'Wang', '2024-03-06 09:00+08', 'department') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('H1'), 'vol', 'Wang', '2024-03-06 09:10+08');
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('handling a called event is 55000', pg_temp.handle_sql(pg_temp.ev('H0'), :vol, 'x', '2024-03-06 09:30+08'), '55000'),
    ('a handling dated before the arrival is 22008', pg_temp.handle_sql(pg_temp.ev('H1'), :vol, 'x', '2024-03-06 09:05+08'), '22008'),
    ('an action of 2001 characters is 22001', pg_temp.handle_sql(pg_temp.ev('H1'), :vol, repeat('x', 2001), '2024-03-06 09:30+08'), '22001'),
    ('a worker who may not act is 42501', pg_temp.handle_sql(pg_temp.ev('H1'), pg_temp.worker_id('neighbour'), 'x', '2024-03-06 09:30+08'), '42501'),
    ('an inactive carer is 42501', pg_temp.handle_sql(pg_temp.ev('H1'), pg_temp.worker_id('retired'), 'x', '2024-03-06 09:30+08'), '42501'),
    ('an event that does not exist is 22023', pg_temp.handle_sql(999999999, :vol, 'x', '2024-03-06 09:30+08'), '22023'),
    ('six minutes ahead is 22008',
     format('SELECT sanse.handle_event(%s, %s, ''x'', clock_timestamp() + interval ''6 minutes'')', pg_temp.ev('H1'), :vol), '22008')
  ) t(description, stmt, expected);
SELECT lives_ok(pg_temp.handle_sql(pg_temp.ev('H1'), :vol, 'called the doctor', '2024-03-06 10:00+08'), 'a carer handles an arrived event');
SELECT is(pg_temp.state(pg_temp.ev('H1')) || ' | ' || pg_temp.transitions(pg_temp.ev('H1')),
          'handled L3 lead tg next - | called 03-06 09:00 - "H1", arrived 03-06 09:10 vol, handled 03-06 10:00 vol "called the doctor"',
          'handled: the clock stops, the transition carries the action');
SELECT results_eq($$SELECT handled_at, handled_by, action FROM sanse.event WHERE id = pg_temp.ev('H1')$$,
                  $$VALUES (timestamptz '2024-03-06 10:00+08', pg_temp.worker_id('vol'), 'called the doctor'::text)$$,
                  'handled_at, handled_by and the action are stored');
SELECT is(pg_temp.sqlstate_of(pg_temp.handle_sql(pg_temp.ev('H1'), :vol, 'called the doctor', '2024-03-06 10:00+08')), 'ok',
          'the same handling retried returns as done');
SELECT is((SELECT count(*) FROM event_transition WHERE event_id = pg_temp.ev('H1') AND stage = 'handled'), 1::bigint, 'once');
SELECT is(pg_temp.sqlstate_of(stmt), '55000', description)
  FROM (VALUES
    ('handling again at another time is 55000', pg_temp.handle_sql(pg_temp.ev('H1'), :vol, 'x', '2024-03-06 10:05+08')),
    ('arriving at a handled event is 55000', pg_temp.arrive_sql(pg_temp.ev('H1'), pg_temp.worker_id('lead m1'), :'tok', '2024-03-06 10:05+08'))
  ) t(description, stmt);

-- a late-synced handling: steps of the handling clock dated after it go
SELECT pg_temp.raise('H2', 'warning', 'Wang', '2024-03-06 12:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('H2'), 'vol', 'Wang', '2024-03-06 12:05+08');
SELECT pg_temp.sweep('2024-03-06 16:10+08');
SELECT is(pg_temp.steps(pg_temp.ev('H2')), 'L1 03-06 12:00 lead m1, L2 03-06 14:05 lead g, L3 03-06 16:05 lead tg',
          'arrived 12:05, swept at 16:10: steps at 14:05 and 16:05');
SELECT lives_ok(pg_temp.handle_sql(pg_temp.ev('H2'), :vol, 'late sync', '2024-03-06 14:00+08'), 'a handling synced late, dated 14:00');
SELECT is(pg_temp.state(pg_temp.ev('H2')) || ' | ' || pg_temp.steps(pg_temp.ev('H2')),
          'handled L1 lead m1 next - | L1 03-06 12:00 lead m1',
          'removes the handling clock''s steps dated after it and goes back to level 1');
SELECT pg_temp.sweep('2024-03-06 23:00+08');
SELECT is(pg_temp.steps(pg_temp.ev('H2')), 'L1 03-06 12:00 lead m1', 'a handled event climbs no more');

-----------------------------------------------------------------------------
-- whistle (2024-03-07): a child task for a department, blocking the parent
-----------------------------------------------------------------------------
SELECT pg_temp.raise('P', 'warning', 'Wang', '2024-03-07 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('P'), 'lead m1', 'Wang', '2024-03-07 09:05+08');
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('an unknown department is 22023', pg_temp.whistle_sql(pg_temp.ev('P'), 'police', pg_temp.worker_id('lead m1'), '2024-03-07 09:10+08'), '22023'),
    ('a NULL department is 22023', pg_temp.whistle_sql(pg_temp.ev('P'), NULL, pg_temp.worker_id('lead m1'), '2024-03-07 09:10+08'), '22023'),
    ('a whistle dated before the call is 22008', pg_temp.whistle_sql(pg_temp.ev('P'), 'civil', pg_temp.worker_id('lead m1'), '2024-03-07 08:00+08'), '22008'),
    ('six minutes ahead is 22008',
     format('SELECT sanse.whistle(%s, ''civil'', %s, clock_timestamp() + interval ''6 minutes'')', pg_temp.ev('P'), pg_temp.worker_id('lead m1')), '22008'),
    ('a worker who may not act is 42501', pg_temp.whistle_sql(pg_temp.ev('P'), 'civil', pg_temp.worker_id('neighbour'), '2024-03-07 09:10+08'), '42501'),
    ('an event that does not exist is 22023', pg_temp.whistle_sql(999999999, 'civil', pg_temp.worker_id('lead m1'), '2024-03-07 09:10+08'), '22023'),
    ('whistling for a handled event is 55000', pg_temp.whistle_sql(pg_temp.ev('H1'), 'civil', pg_temp.worker_id('lead m1'), '2024-03-07 09:10+08'), '55000')
  ) t(description, stmt, expected);
SELECT throws_ok(pg_temp.whistle_sql(pg_temp.ev('P'), 'police', pg_temp.worker_id('lead m1'), '2024-03-07 09:10+08'), '22023',
                 'unknown department "police"', 'the message names the unknown department');
INSERT INTO ev SELECT 'C', whistle(pg_temp.ev('P'), 'civil', pg_temp.worker_id('lead m1'), '2024-03-07 09:10+08');
SELECT results_eq(
  $$SELECT kind, scale, level, parent_id, department, resident_id, area_id, called_at FROM sanse.event WHERE id = pg_temp.ev('C')$$,
  $$SELECT 'task'::text, 'department'::text, 3::smallint, pg_temp.ev('P'), 'civil'::text, pg_temp.resident_id('Wang'),
           pg_temp.area_id('d.t.v.tg.g.m1'), timestamptz '2024-03-07 09:10+08'$$,
  'the child: kind task, scale department, level 3, parent_id set, the department, the parent''s resident and area');
SELECT is(pg_temp.state(pg_temp.ev('C')) || ' | ' || pg_temp.steps(pg_temp.ev('C')),
          'called L3 lead tg next 03-08 09:10 | L3 03-07 09:10 lead tg', 'its own arrival clock (task: a day), its first step at level 3');
SELECT is(pg_temp.transitions(pg_temp.ev('P')),
          'called 03-07 09:00 - "P", arrived 03-07 09:05 lead m1, whistled 03-07 09:10 lead m1 "civil"',
          'the parent records the whistle');
SELECT is(whistle(pg_temp.ev('P'), 'civil', pg_temp.worker_id('lead m1'), '2024-03-07 09:10+08'), pg_temp.ev('C'),
          'whistle retried returns the same child');
SELECT is((SELECT count(*) FROM event WHERE parent_id = pg_temp.ev('P')), 1::bigint, 'one child');
SELECT is(pg_temp.sqlstate_of(pg_temp.handle_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m1'), 'x', '2024-03-07 09:30+08')), '55000',
          'the parent cannot be handled while its child is called (55000)');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('C'), pg_temp.worker_id('housing staff'), :'tok', '2024-03-07 09:40+08')), '42501',
          'staff of another department may not arrive at the child (42501)');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('C'), pg_temp.worker_id('civil staff'), NULL, '2024-03-07 09:40+08')), '28000',
          'the child is about Wang: its arrival needs the door token (28000)');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('C'), pg_temp.worker_id('civil staff'), :'tok', '2024-03-07 09:40+08')), 'ok',
          'the whistled department''s staff (worker.department) arrive at the child with the door token');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('C'), pg_temp.worker_id('civil staff'), :'tok', '2024-03-07 09:40+08')), 'ok',
          'the child''s arrival retried returns as done');
SELECT is(pg_temp.sqlstate_of(pg_temp.handle_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m1'), 'x', '2024-03-07 09:45+08')), '55000',
          'the parent still cannot be handled while its child is arrived but not handled (55000)');
SELECT is(pg_temp.sqlstate_of(pg_temp.handle_sql(pg_temp.ev('C'), pg_temp.worker_id('civil staff'), 'benefit granted', '2024-03-07 10:00+08')), 'ok',
          'the department handles the child');
SELECT is(pg_temp.sqlstate_of(pg_temp.handle_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m1'), 'settled with civil affairs', '2024-03-07 10:30+08')), 'ok',
          'once the child is handled the parent can be');
-- a child's clocks are its own
SELECT pg_temp.raise('P2', 'warning', 'Wang', '2024-03-07 12:00+08') IS NOT NULL AS raised \gset
INSERT INTO ev SELECT 'C2', whistle(pg_temp.ev('P2'), 'housing', pg_temp.worker_id('lead m1'), '2024-03-07 12:05+08');
SELECT pg_temp.sweep('2024-03-08 12:10+08');
SELECT is(pg_temp.steps(pg_temp.ev('C2')), 'L3 03-07 12:05 lead tg, L4 03-08 12:05 task force',
          'a called child climbs on its own clock (a day after the whistle) to level 4');
SELECT is(pg_temp.steps(pg_temp.ev('P2')),
          'L1 03-07 12:00 lead m1, L2 03-07 12:15 lead g, L3 03-07 12:30 lead tg, L4 03-07 12:45 task force',
          'while its called parent climbs on the warning''s 15 minutes');

-----------------------------------------------------------------------------
-- feed_back (P handled at 10:30)
-----------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('feeding back on a called event is 55000', pg_temp.feed_back_sql(pg_temp.ev('P2'), pg_temp.worker_id('lead m1'), 'x', '2024-03-08 13:00+08'), '55000'),
    ('feeding back on an arrived event is 55000', pg_temp.feed_back_sql(pg_temp.ev('T1'), pg_temp.worker_id('lead m1'), 'x', '2024-03-08 13:00+08'), '55000'),
    ('a note of 2001 characters is 22001', pg_temp.feed_back_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m1'), repeat('x', 2001), '2024-03-07 11:00+08'), '22001'),
    ('a feedback dated before the handling is 22008', pg_temp.feed_back_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m1'), 'x', '2024-03-07 10:00+08'), '22008'),
    ('six minutes ahead is 22008',
     format('SELECT sanse.feed_back(%s, %s, ''x'', clock_timestamp() + interval ''6 minutes'')', pg_temp.ev('P'), pg_temp.worker_id('lead m1')), '22008'),
    ('a worker who may not act is 42501', pg_temp.feed_back_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m2'), 'x', '2024-03-07 11:00+08'), '42501'),
    ('an event that does not exist is 22023', pg_temp.feed_back_sql(999999999, pg_temp.worker_id('lead m1'), 'x', '2024-03-07 11:00+08'), '22023')
  ) t(description, stmt, expected);
SELECT lives_ok(pg_temp.feed_back_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m1'), 'told his daughter', '2024-03-07 11:00+08'), 'feed back on a handled event');
SELECT results_eq($$SELECT status, fed_back_at, fed_back_by, feedback FROM sanse.event WHERE id = pg_temp.ev('P')$$,
                  $$VALUES ('fed_back'::text, timestamptz '2024-03-07 11:00+08', pg_temp.worker_id('lead m1'), 'told his daughter'::text)$$,
                  'fed_back: time, worker and note stored');
SELECT is(pg_temp.sqlstate_of(pg_temp.feed_back_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m1'), 'told his daughter', '2024-03-07 11:00+08')), 'ok',
          'the same feedback retried returns as done');
SELECT is((SELECT count(*) FROM event_transition WHERE event_id = pg_temp.ev('P') AND stage = 'fed_back'), 1::bigint, 'once');
SELECT is(pg_temp.sqlstate_of(pg_temp.feed_back_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m1'), 'x', '2024-03-07 11:05+08')), '55000',
          'feeding back again at another time is 55000');

-----------------------------------------------------------------------------
-- evaluate
-----------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('a rating of 0 is 22023', pg_temp.evaluate_sql(pg_temp.ev('P'), 0, true, 'resident', NULL, '2024-03-07 12:00+08'), '22023'),
    ('a rating of 6 is 22023', pg_temp.evaluate_sql(pg_temp.ev('P'), 6, true, 'resident', NULL, '2024-03-07 12:00+08'), '22023'),
    ('a NULL rating is 22023', pg_temp.evaluate_sql(pg_temp.ev('P'), NULL, true, 'resident', NULL, '2024-03-07 12:00+08'), '22023'),
    ('by the handler (not resident or supervisor) is 22023', pg_temp.evaluate_sql(pg_temp.ev('P'), 4, true, 'handler', NULL, '2024-03-07 12:00+08'), '22023'),
    ('by NULL is 22023', pg_temp.evaluate_sql(pg_temp.ev('P'), 4, true, NULL, NULL, '2024-03-07 12:00+08'), '22023'),
    ('a comment of 2001 characters is 22001', pg_temp.evaluate_sql(pg_temp.ev('P'), 4, true, 'resident', repeat('x', 2001), '2024-03-07 12:00+08'), '22001'),
    ('an evaluation dated before the feedback is 22008', pg_temp.evaluate_sql(pg_temp.ev('P'), 4, true, 'resident', NULL, '2024-03-07 10:59+08'), '22008'),
    ('six minutes ahead is 22008',
     format('SELECT sanse.evaluate(%s, 4::smallint, true, ''resident'', NULL, clock_timestamp() + interval ''6 minutes'')', pg_temp.ev('P')), '22008'),
    ('evaluating a handled event not fed back is 55000', pg_temp.evaluate_sql(pg_temp.ev('C'), 4, true, 'resident', NULL, '2024-03-07 12:00+08'), '55000'),
    ('evaluating a called event is 55000', pg_temp.evaluate_sql(pg_temp.ev('P2'), 4, true, 'resident', NULL, '2024-03-08 13:00+08'), '55000'),
    ('an event that does not exist is 22023', pg_temp.evaluate_sql(999999999, 4, true, 'resident', NULL, '2024-03-07 12:00+08'), '22023')
  ) t(description, stmt, expected);
SELECT lives_ok(pg_temp.evaluate_sql(pg_temp.ev('P'), 4, true, 'resident', 'quick help', '2024-03-07 12:00+08'),
                'a rating of 4, solved, by the resident');
SELECT results_eq($$SELECT status, resolved_at, next_step_at, rating, solved, evaluated_by, reopened FROM sanse.event WHERE id = pg_temp.ev('P')$$,
                  $$VALUES ('closed'::text, timestamptz '2024-03-07 12:00+08', NULL::timestamptz, 4::smallint, true, 'resident'::text, 0)$$,
                  'closes the event with resolved_at = at');
SELECT is((SELECT string_agg(stage || ' ' || note, ', ') FROM event_transition WHERE event_id = pg_temp.ev('P') AND at = '2024-03-07 12:00+08'),
          'closed 4 by resident: quick help', 'a closed transition');
SELECT is(pg_temp.sqlstate_of(pg_temp.evaluate_sql(pg_temp.ev('P'), 4, true, 'resident', 'quick help', '2024-03-07 12:00+08')), 'ok',
          'the same evaluation retried returns as done');
SELECT is((SELECT count(*) FROM event_transition WHERE event_id = pg_temp.ev('P') AND stage IN ('closed', 'reopened')), 1::bigint, 'once');
SELECT is(pg_temp.sqlstate_of(pg_temp.evaluate_sql(pg_temp.ev('P'), 5, true, 'supervisor', NULL, '2024-03-07 12:30+08')), '55000',
          'evaluating a closed event again is 55000');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('P'), pg_temp.worker_id('lead m1'), :'tok', '2024-03-07 12:30+08')), '55000',
          'arriving at a closed event is 55000');

-- reopen on a rating of 2: back to called, one level up with a step at `at`,
-- the arrival clock from `at`
SELECT pg_temp.raise('R1', 'warning', 'Wang', '2024-03-08 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('R1'), 'vol', 'Wang', '2024-03-08 09:05+08', '2024-03-08 09:30+08', '2024-03-08 09:40+08');
SELECT lives_ok(pg_temp.evaluate_sql(pg_temp.ev('R1'), 2, true, 'supervisor', 'rude', '2024-03-08 10:00+08'), 'a rating of 2');
SELECT is(pg_temp.state(pg_temp.ev('R1')) || ' | ' || pg_temp.steps(pg_temp.ev('R1')),
          'called L2 lead g next 03-08 10:15 | L1 03-08 09:00 lead m1, L2 03-08 10:00 lead g',
          'reopens: called, level 2 (lead g) with a step at the evaluation, the arrival clock from it (10:15)');
SELECT results_eq($$SELECT called_at, level_since, reopened, arrived_at, arrived_by, handled_at, handled_by, fed_back_at, resolved_at
                      FROM sanse.event WHERE id = pg_temp.ev('R1')$$,
                  $$VALUES (timestamptz '2024-03-08 10:00+08', timestamptz '2024-03-08 10:00+08', 1, NULL::timestamptz, NULL::bigint,
                            NULL::timestamptz, NULL::bigint, NULL::timestamptz, NULL::timestamptz)$$,
                  'called_at and level_since are the evaluation, reopened counts 1, the later stages are cleared');
SELECT is((SELECT note FROM event_transition WHERE event_id = pg_temp.ev('R1') AND stage = 'reopened'), '2 by supervisor: rude',
          'a reopened transition');
SELECT is(pg_temp.sqlstate_of(pg_temp.evaluate_sql(pg_temp.ev('R1'), 2, true, 'supervisor', 'rude', '2024-03-08 10:00+08')), 'ok',
          'the reopening evaluation retried returns as done');
SELECT is((SELECT reopened FROM event WHERE id = pg_temp.ev('R1')), 1, 'and does not reopen twice');
SELECT pg_temp.sweep('2024-03-08 10:16+08');
SELECT is(pg_temp.steps(pg_temp.ev('R1')), 'L1 03-08 09:00 lead m1, L2 03-08 10:00 lead g, L3 03-08 10:15 lead tg',
          'the reopened event climbs 15 minutes after the evaluation');
SELECT is(pg_temp.sqlstate_of(pg_temp.arrive_sql(pg_temp.ev('R1'), :vol, :'tok', '2024-03-08 09:50+08')), '22008',
          'a new arrival dated before the reopening is 22008');
SELECT lives_ok(pg_temp.arrive_sql(pg_temp.ev('R1'), :vol, :'tok', '2024-03-08 10:20+08'), 'the reopened event is arrived at again');
SELECT is(pg_temp.state(pg_temp.ev('R1')), 'arrived L3 lead tg next 03-08 12:20', 'at level 3, its handling clock from the new arrival');

-- reopen on solved = false (rating 5), at level 4: stays at 4, no clock
SELECT pg_temp.raise('R2', 'warning', 'Wang', '2024-03-08 11:00+08', 'task_force') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('R2'), 'vol', 'Wang', '2024-03-08 11:05+08', '2024-03-08 11:10+08', '2024-03-08 11:15+08');
SELECT lives_ok(pg_temp.evaluate_sql(pg_temp.ev('R2'), 5, false, 'resident', NULL, '2024-03-08 11:30+08'), 'rating 5 but not solved');
SELECT is(pg_temp.state(pg_temp.ev('R2')) || ' | ' || pg_temp.steps(pg_temp.ev('R2')) || ' | ' || (SELECT reopened FROM event WHERE id = pg_temp.ev('R2')),
          'called L4 task force next - | L4 03-08 11:00 task force, L4 03-08 11:30 task force | 1',
          'reopens at level 4 at most, with a step at the evaluation and no clock');
-- reopen at level 3 (department scale): one up to 4
SELECT pg_temp.raise('R3', 'finding', 'Wang', '2024-03-08 11:00+08', 'department') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('R3'), 'vol', 'Wang', '2024-03-08 11:05+08', '2024-03-08 11:10+08', '2024-03-08 11:15+08');
SELECT lives_ok(pg_temp.evaluate_sql(pg_temp.ev('R3'), 1, false, 'supervisor', NULL, '2024-03-08 11:30+08'), 'rating 1, not solved');
SELECT is(pg_temp.state(pg_temp.ev('R3')) || ' | ' || pg_temp.steps(pg_temp.ev('R3')),
          'called L4 task force next - | L3 03-08 11:00 lead tg, L4 03-08 11:30 task force', 'from level 3 to 4');
-- a rating of 3, solved, closes
SELECT pg_temp.raise('R4', 'request', 'Wang', '2024-03-08 11:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('R4'), 'vol', 'Wang', '2024-03-08 11:05+08', '2024-03-08 11:10+08', '2024-03-08 11:15+08');
SELECT lives_ok(pg_temp.evaluate_sql(pg_temp.ev('R4'), 3, true, 'supervisor', NULL, '2024-03-08 11:30+08'), 'rating 3, solved');
SELECT is(pg_temp.state(pg_temp.ev('R4')), 'closed L1 lead m1 next -', 'closes (3 is not low)');

-- whoever handled an event may not evaluate it: 'bound' (db_role sanse_t15_app) handles
SELECT pg_temp.raise('B', 'warning', 'Wang', '2024-03-08 13:00+08') IS NOT NULL AS raised \gset
SELECT is(pg_temp.sqlstate_session('sanse_t15_app', pg_temp.arrive_sql(pg_temp.ev('B'), pg_temp.worker_id('bound'), :'tok', '2024-03-08 13:05+08')),
          'ok', 'the bound carer arrives from its role''s session');
SELECT is(pg_temp.sqlstate_session('sanse_t15_app', pg_temp.handle_sql(pg_temp.ev('B'), pg_temp.worker_id('bound'), 'done', '2024-03-08 13:10+08')),
          'ok', 'and handles');
SELECT lives_ok(pg_temp.feed_back_sql(pg_temp.ev('B'), :vol, 'told him', '2024-03-08 13:20+08'), 'another carer feeds back');
SELECT is(pg_temp.sqlstate_session(r, pg_temp.evaluate_sql(pg_temp.ev('B'), 5, true, 'supervisor', NULL, '2024-03-08 14:00+08')), '42501', d)
  FROM (VALUES ('sanse_t15_app', 'the handler''s own role may not evaluate (42501)'),
               ('sanse_t15_member', 'nor a member of it (42501)')) t(r, d);
SELECT is(pg_temp.state(pg_temp.ev('B')), 'fed_back L1 lead m1 next -', 'the refused evaluations changed nothing');
SELECT is(pg_temp.sqlstate_session('sanse_t15_other', pg_temp.evaluate_sql(pg_temp.ev('B'), 5, true, 'supervisor', NULL, '2024-03-08 14:00+08')),
          'ok', 'another role evaluates');
SELECT is(pg_temp.state(pg_temp.ev('B')), 'closed L1 lead m1 next -', 'and closes it');

-----------------------------------------------------------------------------
-- loop_policy edits re-derive open clocks (2024-03-09); the tier-NULL row
-----------------------------------------------------------------------------
SELECT pg_temp.raise('Q1', 'warning', 'Bo', '2024-03-09 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.raise('Q2', 'warning', 'Bo', '2024-03-09 09:01+08') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('Q2'), 'vol', 'Bo', '2024-03-09 09:05+08');
SELECT pg_temp.sweep('2024-03-09 09:20+08');
SELECT is(pg_temp.state(pg_temp.ev('Q1')) || ' | ' || pg_temp.steps(pg_temp.ev('Q1')),
          'called L2 lead g next 03-09 09:30 | L1 03-09 09:00 lead m1, L2 03-09 09:15 lead g', 'before the edit: level 2, next at 09:30');
UPDATE loop_policy SET arrive_within = '1 hour', handle_within = '3 hours' WHERE kind = 'warning';
SELECT is(pg_temp.state(pg_temp.ev('Q1')) || ' | ' || pg_temp.steps(pg_temp.ev('Q1')),
          'called L2 lead g next 03-09 10:15 | L1 03-09 09:00 lead m1, L2 03-09 09:15 lead g',
          'a called clock re-derived: the new hour counted from the last step reached (09:15), the step kept');
SELECT is(pg_temp.state(pg_temp.ev('Q2')), 'arrived L1 lead m1 next 03-09 12:05', 'an arrived clock re-derived: 3 hours from the arrival');
SELECT pg_temp.sweep('2024-03-09 10:14+08');
SELECT is(pg_temp.steps(pg_temp.ev('Q1')), 'L1 03-09 09:00 lead m1, L2 03-09 09:15 lead g', 'no step at 09:30 any more');
SELECT pg_temp.sweep('2024-03-09 12:05+08');
SELECT is(pg_temp.steps(pg_temp.ev('Q1')),
          'L1 03-09 09:00 lead m1, L2 03-09 09:15 lead g, L3 03-09 10:15 lead tg, L4 03-09 11:15 task force',
          'the called clock steps hourly from 09:15');
SELECT is(pg_temp.steps(pg_temp.ev('Q2')), 'L1 03-09 09:01 lead m1, L2 03-09 12:05 lead g', 'the arrived clock at 12:05');
UPDATE loop_policy SET arrive_within = '15 minutes', handle_within = '2 hours' WHERE kind = 'warning';
SELECT is(pg_temp.state(pg_temp.ev('Q2')), 'arrived L2 lead g next 03-09 14:05', 'editing back: 2 hours from the last step (12:05)');
SELECT is(pg_temp.steps(pg_temp.ev('Q2')), 'L1 03-09 09:01 lead m1, L2 03-09 12:05 lead g', 'and the reached step stays');
-- the tier-NULL row serves events without a resident; a tier's own row its residents
INSERT INTO loop_policy (kind, tier, arrive_within, handle_within) VALUES ('task', 'red', '2 hours', '6 hours');
SELECT raise_event('task', pg_temp.resident_id('Wang'), 'red task', 'grid', '2024-03-09 13:00+08') AS x1,
       dispatch_task(pg_temp.area_id('d.t.v.tg.g.m1'), 'area task', 'grid', '2024-03-09 13:00+08') AS x2,
       raise_event('task', pg_temp.resident_id('Bo'), 'blue task', 'grid', '2024-03-09 13:00+08') AS x3 \gset
SELECT is(pg_temp.state(:x1),
          'called L1 lead m1 next 03-09 15:00', 'a task about a red resident takes the (task, red) row: 2 hours');
SELECT is(pg_temp.state(:x2),
          'called L1 lead m1 next 03-10 13:00', 'a task without a resident takes the tier-NULL row: a day');
SELECT is(pg_temp.state(:x3),
          'called L1 lead m1 next 03-10 13:00', 'a blue resident (no row of its own) the tier-NULL row');
DELETE FROM loop_policy WHERE kind = 'task' AND tier = 'red';
SELECT raise_event('task', pg_temp.resident_id('Li'), 'red task without the row', 'grid', '2024-03-09 13:30+08') AS x4 \gset
SELECT is(pg_temp.state(:x4), 'called L1 lead m1 next 03-10 13:30', 'once the (task, red) row is gone, red tasks take the tier-NULL row again: a day');

-----------------------------------------------------------------------------
-- sweeps climb the clocks at logical times, whenever they run (2024-03-10)
-----------------------------------------------------------------------------
SELECT pg_temp.raise('S1', 'warning', 'Bo', '2024-03-10 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.sweep('2024-03-10 09:14+08');
SELECT is(pg_temp.steps(pg_temp.ev('S1')), 'L1 03-10 09:00 lead m1', 'swept at 09:14: no step yet');
SELECT pg_temp.sweep('2024-03-10 09:15+08');
SELECT is(pg_temp.state(pg_temp.ev('S1')) || ' | ' || pg_temp.steps(pg_temp.ev('S1')),
          'called L2 lead g next 03-10 09:30 | L1 03-10 09:00 lead m1, L2 03-10 09:15 lead g', 'swept at 09:15: level 2 at 09:15');
SELECT pg_temp.sweep('2024-03-10 09:29+08');
SELECT is(pg_temp.state(pg_temp.ev('S1')), 'called L2 lead g next 03-10 09:30', 'swept at 09:29: still level 2');
SELECT pg_temp.sweep('2024-03-10 09:37+08');
SELECT is(pg_temp.steps(pg_temp.ev('S1')), 'L1 03-10 09:00 lead m1, L2 03-10 09:15 lead g, L3 03-10 09:30 lead tg',
          'swept late at 09:37: the step is dated 09:30 (previous + 15 minutes), not 09:37');
SELECT pg_temp.sweep('2024-03-10 12:00+08');
SELECT is(pg_temp.state(pg_temp.ev('S1')) || ' | ' || pg_temp.steps(pg_temp.ev('S1')),
          'called L4 task force next - | L1 03-10 09:00 lead m1, L2 03-10 09:15 lead g, L3 03-10 09:30 lead tg, L4 03-10 09:45 task force',
          'level 4 at 09:45 is the top: no clock after it');
SELECT pg_temp.sweep('2024-03-10 23:00+08');
SELECT is((SELECT count(*) FROM event_step WHERE event_id = pg_temp.ev('S1')), 4::bigint, 'no step beyond level 4');
-- the same warning swept once at the end climbs to the same steps
SELECT pg_temp.raise('S2', 'warning', 'Bo', '2024-03-10 13:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.sweep('2024-03-10 15:00+08');
SELECT is(pg_temp.steps(pg_temp.ev('S2')),
          'L1 03-10 13:00 lead m1, L2 03-10 13:15 lead g, L3 03-10 13:30 lead tg, L4 03-10 13:45 task force',
          'one sweep two hours later gives the same steps at the same logical times');
-- a request for a red resident climbs every 30 minutes
SELECT pg_temp.raise('S3', 'request', 'Wang', '2024-03-10 16:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.sweep('2024-03-10 17:00+08');
SELECT is(pg_temp.steps(pg_temp.ev('S3')), 'L1 03-10 16:00 lead m1, L2 03-10 16:30 lead g, L3 03-10 17:00 lead tg',
          'a red request: a step every 30 minutes, one exactly at the sweep''s time');

-----------------------------------------------------------------------------
-- loop_metrics: Ma (red, M2), June 2024 (Asia/Shanghai), warnings:
--   E1 06-10 09:00 arrived 09:10 (in time), closed by the resident: 5, solved
--   E2 06-11 09:00 arrived 09:15 (= the first step: not in time), closed by a supervisor: 4
--   E3 06-12 09:00 arrived 09:05 (in time), handled, rated 2 by the resident: reopened, open
--   E4 06-13 09:00 never arrived: open
-- raised 4, answered in time 2, rate 0.5, median of (10, 15, 5 minutes) 10 minutes,
-- handled 3, closed 2, reopened 1, mean rating (5 + 4 + 2) / 3 = 3.67,
-- confirmed solved 1 (E1: a resident's), still open 2.
-- E5 raised 2024-07-01 01:00+08 (June 30 in UTC) counts in July: arrived 01:20.
-----------------------------------------------------------------------------
SELECT has_view('sanse', 'loop_metrics', 'loop_metrics view');
SELECT pg_temp.raise('E1', 'warning', 'Ma', '2024-06-10 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.raise('E2', 'warning', 'Ma', '2024-06-11 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.raise('E3', 'warning', 'Ma', '2024-06-12 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.raise('E4', 'warning', 'Ma', '2024-06-13 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.raise('E5', 'warning', 'Ma', '2024-07-01 01:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('E1'), 'lead m2', 'Ma', '2024-06-10 09:10+08', '2024-06-10 09:30+08', '2024-06-10 09:40+08');
SELECT pg_temp.go(pg_temp.ev('E2'), 'lead m2', 'Ma', '2024-06-11 09:15+08', '2024-06-11 09:30+08', '2024-06-11 09:40+08');
SELECT pg_temp.go(pg_temp.ev('E3'), 'lead m2', 'Ma', '2024-06-12 09:05+08', '2024-06-12 09:30+08', '2024-06-12 09:40+08');
SELECT pg_temp.go(pg_temp.ev('E5'), 'lead m2', 'Ma', '2024-07-01 01:20+08');
SELECT evaluate(pg_temp.ev('E1'), 5::smallint, true, 'resident', NULL, '2024-06-10 10:00+08');
SELECT evaluate(pg_temp.ev('E2'), 4::smallint, true, 'supervisor', NULL, '2024-06-11 10:00+08');
SELECT evaluate(pg_temp.ev('E3'), 2::smallint, true, 'resident', NULL, '2024-06-12 10:00+08');
SELECT results_eq(
  $$SELECT path, month, kind, raised, answered_in_time, response_rate, median_time_to_arrive, handled, closed, reopened,
           mean_rating, confirmed_solved, still_open
      FROM sanse.loop_metrics WHERE path IN ('d.t.v.tg.g.m2', 'd.t.v.tg.g', 'd') AND month >= '2024-06-01' AND month < '2024-08-01'
     ORDER BY month, length(path) DESC$$,
  $$VALUES ('d.t.v.tg.g.m2', date '2024-06-01', 'warning', 4::bigint, 2::bigint, 0.5000::numeric, interval '10 minutes', 3::bigint, 2::bigint, 1::bigint, 3.67::numeric, 1::bigint, 2::bigint),
           ('d.t.v.tg.g', '2024-06-01', 'warning', 4, 2, 0.5000, '10 minutes', 3, 2, 1, 3.67, 1, 2),
           ('d', '2024-06-01', 'warning', 4, 2, 0.5000, '10 minutes', 3, 2, 1, 3.67, 1, 2),
           ('d.t.v.tg.g.m2', '2024-07-01', 'warning', 1, 0, 0.0000, '20 minutes', 0, 0, 0, NULL, 0, 1),
           ('d.t.v.tg.g', '2024-07-01', 'warning', 1, 0, 0.0000, '20 minutes', 0, 0, 0, NULL, 0, 1),
           ('d', '2024-07-01', 'warning', 1, 0, 0.0000, '20 minutes', 0, 0, 0, NULL, 0, 1)$$,
  'loop_metrics for M2, rolled up to G and the district, June and July 2024 (month in sanse.timezone)');
SELECT is((SELECT count(*) FROM loop_metrics WHERE path = 'd.t.v.tg2' AND month = '2024-06-01'), 0::bigint, 'another total grid has no June rows');

-----------------------------------------------------------------------------
-- open_events: the board, now
-----------------------------------------------------------------------------
SELECT has_view('sanse', 'open_events', 'open_events view');
SELECT pg_temp.raise('O1', 'warning', 'Wang', now() - interval '5 minutes') IS NOT NULL AS raised \gset
SELECT pg_temp.raise('O2', 'warning', 'Wang', now() - interval '30 minutes') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('O2'), 'vol', 'Wang', now() - interval '20 minutes');
SELECT results_eq(
  $$SELECT event_id, kind, scale, stage, level, assignee_name, age, time_left, path FROM sanse.open_events
     WHERE event_id IN (pg_temp.ev('O1'), pg_temp.ev('O2'), pg_temp.ev('H1')) ORDER BY event_id$$,
  $$VALUES (pg_temp.ev('H1'), 'warning', 'department', 'handled', 3::smallint, 'lead tg', now() - timestamptz '2024-03-06 09:00+08', NULL::interval, 'd.t.v.tg.g.m1'),
           (pg_temp.ev('O1'), 'warning', 'grid', 'called', 1::smallint, 'lead m1', interval '5 minutes', interval '10 minutes', 'd.t.v.tg.g.m1'),
           (pg_temp.ev('O2'), 'warning', 'grid', 'arrived', 1::smallint, 'lead m1', interval '30 minutes', interval '1 hour 40 minutes', 'd.t.v.tg.g.m1')$$,
  'open_events: stage, level, assignee, age since the call, time left on the clock (15 min from the call; 2 h from the arrival; none once handled)');
SELECT is((SELECT count(*) FROM open_events WHERE event_id IN (pg_temp.ev('P'), pg_temp.ev('B'), pg_temp.ev('E1'))), 0::bigint,
          'closed events are not on the board');
SELECT is((SELECT parent_id FROM open_events WHERE event_id = pg_temp.ev('C2')), pg_temp.ev('P2'), 'a whistled child shows its parent');

-----------------------------------------------------------------------------
-- worker_load: wl cares for Mo (red), Mu (yellow), Mi (blue) in M4
--   visits a week: 3.5 (rolling 2 days) + 1 (calendar week) + 0.23 (calendar month) = 4.73
--   handled this month: L1 and L4 (now; L4 since reopened still counts), not L0 (2024)
--   lead m4: open loop events L0, L1 (handled, not closed), L2, highest level 1;
--   lead tg2: the department task L3 at level 3
-----------------------------------------------------------------------------
SELECT has_view('sanse', 'worker_load', 'worker_load view');
SELECT is(visits_per_week(c), v, format('visits_per_week(%L) = %s', c, v))
  FROM (VALUES ('rolling 2 days', 3.5), ('calendar week', 1), ('calendar month', 0.23)) t(c, v);
SELECT pg_temp.raise('L0', 'warning', 'Mo', '2024-03-12 09:00+08') IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('L0'), 'wl', 'Mo', '2024-03-12 09:05+08', '2024-03-12 09:10+08');
SELECT pg_temp.raise('L1', 'warning', 'Mo', now()) IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('L1'), 'wl', 'Mo', now(), now());
SELECT pg_temp.raise('L2', 'request', 'Mu', now()) IS NOT NULL AS raised \gset
INSERT INTO ev SELECT 'L3', dispatch_task(pg_temp.area_id('d.t.v.tg2.g.m4'), 'M4 task', 'department', now());
SELECT pg_temp.raise('L4', 'finding', 'Mi', now()) IS NOT NULL AS raised \gset
SELECT pg_temp.go(pg_temp.ev('L4'), 'wl', 'Mi', now(), now(), now());
SELECT evaluate(pg_temp.ev('L4'), 1::smallint, false, 'resident', NULL, now());
SELECT is(pg_temp.sqlstate_of(pg_temp.handle_sql(pg_temp.ev('L1'), pg_temp.worker_id('wl'), 'done', now())), 'ok',
          'a retried handling (adds no transition)');
SELECT results_eq(
  $$SELECT worker_name, red, yellow, blue, visits_per_week, open_overdue, open_loop, highest_level::int, handled_this_month
      FROM sanse.worker_load WHERE worker_name IN ('wl', 'lead m4', 'lead tg2') ORDER BY worker_name$$,
  $$VALUES ('lead m4', 0::bigint, 0::bigint, 0::bigint, 0::numeric, 0::bigint, 3::bigint, 1, 0::bigint),
           ('lead tg2', 0, 0, 0, 0, 0, 1, 3, 0),
           ('wl', 1, 1, 1, 4.73, 0, 0, NULL, 2)$$,
  'worker_load: residents by tier, visits a week, open events assigned, loop events handled this month');
SELECT is((SELECT count(*) FROM worker_load WHERE worker_name IN ('old lead m1', 'retired')), 0::bigint, 'inactive workers are not listed');

SELECT * FROM finish();
ROLLBACK;
