-- pgTAP: issue 19, one transition for the closed loop (spec 7).
--  1. the loop's vocabularies are tables (value, position, meaning) holding
--     exactly the values spec 7 names, read by everyone, written by nobody
--     but the extension, and referenced by foreign keys from the columns
--     that hold them;
--  2. the moves (sanse.loop_move) are the ones spec 7 and the README
--     describe: which stage follows which, what bounds its time, which clock
--     ends and which starts;
--  3. every move the table does not allow is refused (55000), through the
--     pinned functions and through sanse.loop_transition itself;
--  4. the pinned functions keep their signatures, defaults and results.
-- Expected values are written by hand from spec 7 and the README, never
-- read back from the tables under test.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL sanse.timezone = 'Asia/Shanghai';
SET LOCAL TimeZone = 'Asia/Shanghai';
SET LOCAL sanse.max_backdate = '10 years';	-- loop times dated in 2024
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(88);

-----------------------------------------------------------------------------
-- 1. the vocabularies
-----------------------------------------------------------------------------
-- spec 7, "Kinds": overdue (section 5), then warning, finding, request, task
SELECT is(ARRAY(SELECT value FROM sanse.event_kind ORDER BY position),
          ARRAY['overdue', 'warning', 'finding', 'request', 'task'],
          'event_kind: overdue, warning, finding, request, task, in that order');
SELECT is(sanse.event_kinds(), ARRAY['overdue', 'warning', 'finding', 'request', 'task'],
          'event_kinds() reads them in the same order');
-- spec 7, "Scale": grid starts at level 1, department at 3, task_force at 4
SELECT is(ARRAY(SELECT value || ' ' || start_level FROM sanse.event_scale ORDER BY position),
          ARRAY['grid 1', 'department 3', 'task_force 4'],
          'event_scale: grid (level 1), department (level 3), task_force (level 4)');
SELECT is(ARRAY[sanse.scale_level('grid'), sanse.scale_level('department'), sanse.scale_level('task_force')],
          ARRAY[1, 3, 4]::smallint[], 'scale_level reads the start levels');
-- section 5: open and closed; spec 7, "Stages": called > arrived > handled > fed_back > closed
SELECT is(ARRAY(SELECT value FROM sanse.event_status ORDER BY position),
          ARRAY['open', 'called', 'arrived', 'handled', 'fed_back', 'closed'],
          'event_status: an overdue event''s open, then the loop''s stages, closed last');
-- the transitions recorded: the five stages, a whistle, an evaluation
-- that reopens or closes, and (issue 20, doc/feeds.md) a departure task
-- answered "still here"
SELECT is(ARRAY(SELECT value FROM sanse.loop_stage ORDER BY position),
          ARRAY['called', 'arrived', 'whistled', 'handled', 'fed_back', 'reopened', 'closed', 'still_here', 'cancelled'],
          'loop_stage: called, arrived, whistled, handled, fed_back, reopened, closed, still_here (issue 20: a departure answered at the door), cancelled (issue 21: a quiet warning a late reading disproved)');

-- one shape: value text PRIMARY KEY, position smallint, meaning text, every
-- value with a meaning
SELECT is((SELECT string_agg(format('%s.%s %s', c.table_name, c.column_name, c.data_type), ', ' ORDER BY c.table_name, c.ordinal_position)
             FROM information_schema.columns c
            WHERE c.table_schema = 'sanse' AND c.table_name IN ('event_kind', 'event_scale', 'event_status', 'loop_stage')
              AND c.column_name IN ('value', 'position', 'meaning')),
          'event_kind.value text, event_kind.position smallint, event_kind.meaning text, '
          'event_scale.value text, event_scale.position smallint, event_scale.meaning text, '
          'event_status.value text, event_status.position smallint, event_status.meaning text, '
          'loop_stage.value text, loop_stage.position smallint, loop_stage.meaning text',
          'every vocabulary has value, position and meaning');
SELECT col_is_pk('sanse', t, 'value', t || '.value is its primary key')
  FROM unnest(ARRAY['event_kind', 'event_scale', 'event_status', 'loop_stage']) t;
SELECT is((SELECT count(*) FROM (SELECT meaning FROM sanse.event_kind UNION ALL SELECT meaning FROM sanse.event_scale
                                 UNION ALL SELECT meaning FROM sanse.event_status UNION ALL SELECT meaning FROM sanse.loop_stage) m
            WHERE coalesce(m.meaning, '') = ''), 0::bigint, 'every value says what it means');

-- the columns that hold them refer to them
SELECT fk_ok('sanse', f.tbl, f.col, 'sanse', f.ref, 'value')
  FROM (VALUES ('event', 'kind', 'event_kind'), ('event', 'status', 'event_status'), ('event', 'scale', 'event_scale'),
               ('event_transition', 'stage', 'loop_stage'), ('loop_policy', 'kind', 'event_kind'),
               ('loop_move', 'stage', 'loop_stage'), ('loop_move', 'from_status', 'event_status'),
               ('loop_move', 'to_status', 'event_status'), ('loop_move', 'not_before', 'event_status')) f(tbl, col, ref);

-- no inline CHECK lists left for them
SELECT is((SELECT string_agg(k.conname, ', ') FROM pg_constraint k
            WHERE k.conrelid IN ('sanse.event'::regclass, 'sanse.event_transition'::regclass, 'sanse.loop_policy'::regclass)
              AND k.contype = 'c'
              AND (k.conname IN ('event_kind_check', 'event_status_check', 'event_scale_check', 'event_transition_stage_check')
                   OR pg_get_constraintdef(k.oid) ~ 'event_kinds|event_scales')), NULL,
          'no CHECK constraint lists kinds, scales, statuses or stages any more');

-----------------------------------------------------------------------------
-- 2. the moves, as spec 7 and the README say
-----------------------------------------------------------------------------
-- Stages called > arrived > handled > fed_back > closed; "an arrival or
-- whistle before the call, a handling before the arrival, a feedback before
-- the handling, an evaluation before the feedback" is refused (22008); an
-- event in called climbs on arrive_within (its arrival clock, started by the
-- call) until it arrives, one in arrived on handle_within (started by the
-- arrival) until it is handled; a whistle comes before the handling (an
-- event with unhandled whistled children cannot be handled) and leaves the
-- event where it is; an evaluation with a rating of 2 or less or not solved
-- reopens it: back to called, one level up, its arrival clock starting at
-- at; otherwise it closes.  A departure task answered "still here" at the
-- door (doc/feeds.md) closes from arrived, not before the arrival, ending
-- the handling clock.
SELECT results_eq(
	$$SELECT coalesce(from_status, '-'), stage, to_status, coalesce(not_before, '-'), ends_clock, starts_clock, climbs
	    FROM sanse.loop_move ORDER BY 2, 1$$,
	$$VALUES ('called', 'arrived', 'arrived', 'called', true, true, false),
	         ('-', 'called', 'called', '-', false, true, false),
	         ('fed_back', 'closed', 'closed', 'fed_back', false, false, false),
	         ('handled', 'fed_back', 'fed_back', 'handled', false, false, false),
	         ('arrived', 'handled', 'handled', 'arrived', true, false, false),
	         ('fed_back', 'reopened', 'called', 'fed_back', false, true, true),
	         ('arrived', 'still_here', 'closed', 'arrived', true, false, false),
	         ('arrived', 'whistled', 'arrived', 'called', false, false, false),
	         ('called', 'whistled', 'called', 'called', false, false, false)$$,
	'loop_move: every move spec 7 describes, and no other');
SELECT is((SELECT string_agg(value, ' ' ORDER BY position) FROM sanse.loop_stage WHERE by_worker),
          'called arrived whistled handled fed_back still_here',
          'the worker-named stages; an evaluation (reopened, closed) names none');

-----------------------------------------------------------------------------
-- 3. clients read the vocabularies and the moves, and cannot write them
-----------------------------------------------------------------------------
CREATE ROLE sanse_t25_app NOLOGIN;
INSERT INTO area_grant (role, path, access) VALUES ('sanse_t25_app', 'd', 'care');
CREATE ROLE sanse_t25_nobody NOLOGIN;
SELECT is(pg_temp.sqlstate_as(r, format('SELECT count(*) FROM sanse.%I', t)), 'ok',
          format('%s reads sanse.%s', r, t))
  FROM unnest(ARRAY['event_kind', 'event_scale', 'event_status', 'loop_stage', 'loop_move']) t,
       unnest(ARRAY['sanse_t25_app', 'sanse_t25_nobody']::name[]) r;
SELECT is(pg_temp.sqlstate_as('sanse_t25_app', q), '42501', d)
  FROM (VALUES
    ($$INSERT INTO sanse.event_kind (value, position, meaning) VALUES ('alarm', 9, 'x')$$, 'the app cannot add a kind'),
    ($$UPDATE sanse.event_kind SET meaning = 'x' WHERE value = 'warning'$$, 'the app cannot change a kind'),
    ($$DELETE FROM sanse.event_kind WHERE value = 'task'$$, 'the app cannot remove a kind'),
    ($$INSERT INTO sanse.event_scale (value, position, meaning, start_level) VALUES ('city', 9, 'x', 2)$$, 'the app cannot add a scale'),
    ($$UPDATE sanse.event_scale SET start_level = 2 WHERE value = 'grid'$$, 'the app cannot move a scale''s start level'),
    ($$INSERT INTO sanse.event_status (value, position, meaning) VALUES ('waiting', 9, 'x')$$, 'the app cannot add a status'),
    ($$DELETE FROM sanse.event_status WHERE value = 'fed_back'$$, 'the app cannot remove a status'),
    ($$INSERT INTO sanse.loop_stage (value, position, meaning, verb, done, noun, by_worker) VALUES ('skipped', 9, 'x', 'x', 'x', 'x', true)$$,
     'the app cannot add a stage'),
    ($$UPDATE sanse.loop_stage SET by_worker = true WHERE value = 'closed'$$, 'the app cannot let a worker close an event'),
    ($$INSERT INTO sanse.loop_move (from_status, stage, to_status, ends_clock, starts_clock, climbs) VALUES ('called', 'closed', 'closed', true, false, false)$$,
     'the app cannot add a move (close a called event)'),
    ($$UPDATE sanse.loop_move SET starts_clock = false WHERE stage = 'reopened'$$, 'the app cannot change a move''s clocks'),
    ($$DELETE FROM sanse.loop_move WHERE stage = 'handled'$$, 'the app cannot remove a move')
  ) v(q, d);

-----------------------------------------------------------------------------
-- 4. unknown values are refused by the foreign keys (23503)
-----------------------------------------------------------------------------
INSERT INTO resident (area_id, name, factors) VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Wang', '{accident_risk}');
INSERT INTO department (code, name) VALUES ('civil', 'Civil affairs');
SELECT pg_temp.resident_id('Wang') AS wang, pg_temp.worker_id('lead m1') AS lead, pg_temp.area_id('d.t.v.tg.g.m1') AS m1 \gset
SELECT is(e.state || ' ' || coalesce(e.constraint_name, '-'), '23503 ' || v.cons, format('%s is refused by %s', v.d, v.cons))
  FROM (VALUES
    (format($$INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, due_at, level_since, called_at, next_step_at)
              VALUES (%s, %s, 'alarm', 'called', 'red', now(), now(), now(), now())$$, :wang, :m1),
     'event_kind_fkey', 'an event of an unknown kind'),
    (format($$INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, due_at, level_since, called_at, next_step_at)
              VALUES (%s, %s, 'warning', 'waiting', 'red', now(), now(), now(), now())$$, :wang, :m1),
     'event_status_fkey', 'an event in an unknown status'),
    (format($$INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, due_at, level_since, called_at, next_step_at, scale)
              VALUES (%s, %s, 'warning', 'called', 'red', now(), now(), now(), now(), 'city')$$, :wang, :m1),
     'event_scale_fkey', 'an event of an unknown scale'),
    ($$INSERT INTO sanse.loop_policy (kind, tier, arrive_within, handle_within) VALUES ('alarm', NULL, '1 hour', '1 day')$$,
     'loop_policy_kind_fkey', 'a loop policy for an unknown kind')
  ) v(q, cons, d), LATERAL pg_temp.error_of(v.q) e;
SELECT is(pg_temp.sqlstate_of($$INSERT INTO sanse.loop_policy (kind, tier, arrive_within, handle_within) VALUES ('overdue', NULL, '1 hour', '1 day')$$),
          '23514', 'overdue events have no loop policy (their clock is the tier''s escalate_after)');

-- an event to write transitions and statuses against
SELECT sanse.raise_event('warning', :wang, 'fk', 'grid', '2024-03-05 10:00+08') AS fk_event \gset
SELECT is(pg_temp.sqlstate_of(format($$UPDATE sanse.event SET status = 'waiting' WHERE id = %s$$, :fk_event)), '23503',
          'an event cannot be moved to an unknown status');
SELECT is(pg_temp.sqlstate_of(format($$INSERT INTO sanse.event_transition (event_id, stage, at) VALUES (%s, %L, now())$$, :fk_event, s)),
          '23503', format('a transition of the unknown stage %L is refused', s))
  FROM unnest(ARRAY['paused', 'evaluated']) s;
SELECT is(pg_temp.sqlstate_of($$DELETE FROM sanse.event_kind WHERE value = 'warning'$$), '23503',
          'a kind in use cannot be removed, not even by the owner');

-----------------------------------------------------------------------------
-- 5. moves the table does not allow: 55000
-----------------------------------------------------------------------------
-- one event in each stage, about Wang, moved by the leader of his micro grid
CREATE TEMP TABLE at_stage (status text PRIMARY KEY, id bigint NOT NULL);
CREATE FUNCTION pg_temp.at_stage(s text, n int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	e bigint := sanse.raise_event('warning', pg_temp.resident_id('Wang'), 'stage ' || s, 'grid', '2024-03-05 10:00+08');
	w bigint := pg_temp.worker_id('lead m1');
BEGIN
	IF n >= 1 THEN PERFORM sanse.arrive(e, w, sanse.door_token(pg_temp.resident_id('Wang')), '2024-03-05 10:05+08'); END IF;
	IF n >= 2 THEN PERFORM sanse.handle_event(e, w, 'done', '2024-03-05 10:10+08'); END IF;
	IF n >= 3 THEN PERFORM sanse.feed_back(e, w, 'told', '2024-03-05 10:15+08'); END IF;
	IF n >= 4 THEN PERFORM sanse.evaluate(e, 5, true, 'supervisor', NULL, '2024-03-05 10:20+08'); END IF;
	INSERT INTO at_stage VALUES (s, e);
	RETURN e;
END
$$;
CREATE TEMP TABLE made AS SELECT pg_temp.at_stage(s, n) FROM (VALUES ('called', 0), ('arrived', 1), ('handled', 2), ('fed_back', 3), ('closed', 4)) v(s, n);
SELECT is((SELECT string_agg(a.status || '=' || e.status, ' ' ORDER BY e.id) FROM at_stage a JOIN sanse.event e ON e.id = a.id),
          'called=called arrived=arrived handled=handled fed_back=fed_back closed=closed', 'one event in each stage');

CREATE FUNCTION pg_temp.call(fn text, s text) RETURNS text LANGUAGE sql AS $$
	SELECT CASE fn
	  WHEN 'arrive' THEN format('SELECT sanse.arrive(%s, %s, %L, %L)', a.id, pg_temp.worker_id('lead m1'), sanse.door_token(pg_temp.resident_id('Wang')), '2024-03-05 10:30+08')
	  WHEN 'handle_event' THEN format('SELECT sanse.handle_event(%s, %s, %L, %L)', a.id, pg_temp.worker_id('lead m1'), 'again', '2024-03-05 10:30+08')
	  WHEN 'whistle' THEN format('SELECT sanse.whistle(%s, %L, %s, %L)', a.id, 'civil', pg_temp.worker_id('lead m1'), '2024-03-05 10:30+08')
	  WHEN 'feed_back' THEN format('SELECT sanse.feed_back(%s, %s, %L, %L)', a.id, pg_temp.worker_id('lead m1'), 'again', '2024-03-05 10:30+08')
	  WHEN 'evaluate' THEN format('SELECT sanse.evaluate(%s, 4, true, %L, NULL, %L)', a.id, 'supervisor', '2024-03-05 10:30+08')
	END FROM at_stage a WHERE a.status = s
$$;
-- allowed: arrive from called; handle from arrived; whistle from called or
-- arrived; feed back from handled; evaluate from fed_back.  Every other pair:
SELECT is(pg_temp.sqlstate_of(pg_temp.call(fn, s)), '55000', format('%s on an event that is %s: 55000', fn, s))
  FROM (VALUES ('arrive', 'arrived'), ('arrive', 'handled'), ('arrive', 'fed_back'), ('arrive', 'closed'),
               ('handle_event', 'called'), ('handle_event', 'handled'), ('handle_event', 'fed_back'), ('handle_event', 'closed'),
               ('whistle', 'handled'), ('whistle', 'fed_back'), ('whistle', 'closed'),
               ('feed_back', 'called'), ('feed_back', 'arrived'), ('feed_back', 'fed_back'), ('feed_back', 'closed'),
               ('evaluate', 'called'), ('evaluate', 'arrived'), ('evaluate', 'handled'), ('evaluate', 'closed')) v(fn, s);
-- the words, as before the table
SELECT is((pg_temp.error_of(pg_temp.call('handle_event', 'called'))).message || ' / ' || (pg_temp.error_of(pg_temp.call('handle_event', 'called'))).detail,
          format('event %s is called, so it cannot be handled / Only an event that is arrived can be handled.', (SELECT id FROM at_stage WHERE status = 'called')),
          'the refusal names the stage and the stage it needs');
SELECT is((pg_temp.error_of(pg_temp.call('whistle', 'handled'))).detail, 'Only an event that is called or arrived can be whistled for.',
          'a whistle names both stages it may follow');
SELECT is((pg_temp.error_of(pg_temp.call('evaluate', 'closed'))).message,
          format('event %s is closed, so it cannot be evaluated', (SELECT id FROM at_stage WHERE status = 'closed')),
          'an evaluation of a closed event');
-- the refusals changed nothing
SELECT is((SELECT string_agg(a.status || '=' || e.status, ' ' ORDER BY e.id) FROM at_stage a JOIN sanse.event e ON e.id = a.id),
          'called=called arrived=arrived handled=handled fed_back=fed_back closed=closed', 'every event is still in its stage');

-- the one transition itself refuses the same, and what is no move at all
SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.loop_transition(%s, 'closed', NULL, '2024-03-05 10:30+08', NULL, NULL, 5, true, 'supervisor')$$,
                                     (SELECT id FROM at_stage WHERE status = 'called'))),
          '55000', 'loop_transition: a called event cannot be closed');
SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.loop_transition(%s, %L, %s, '2024-03-05 10:30+08')$$,
                                     (SELECT id FROM at_stage WHERE status = 'called'), s, :lead)),
          '22023', format('loop_transition: %L is no move of an event', s))
  FROM unnest(ARRAY['called', 'paused']) s;

-----------------------------------------------------------------------------
-- 6. the pinned functions keep their signatures, defaults and results;
--    the one transition runs as the owner and is not the app's to call
-----------------------------------------------------------------------------
SELECT is(pg_get_function_arguments(f::regprocedure) || ' -> ' || pg_get_function_result(f::regprocedure), sig, 'spec 7: ' || f)
  FROM (VALUES
    ('sanse.arrive(bigint, bigint, text, timestamptz)',
     'event_id bigint, worker_id bigint, token text DEFAULT NULL::text, at timestamp with time zone DEFAULT now() -> void'),
    ('sanse.handle_event(bigint, bigint, text, timestamptz)',
     'event_id bigint, worker_id bigint, action text, at timestamp with time zone DEFAULT now() -> void'),
    ('sanse.whistle(bigint, text, bigint, timestamptz)',
     'event_id bigint, department text, worker_id bigint, at timestamp with time zone DEFAULT now() -> bigint'),
    ('sanse.feed_back(bigint, bigint, text, timestamptz)',
     'event_id bigint, worker_id bigint, note text, at timestamp with time zone DEFAULT now() -> void'),
    ('sanse.evaluate(bigint, integer, boolean, text, text, timestamptz)',
     'event_id bigint, rating integer, solved boolean, by text, comment text DEFAULT NULL::text, at timestamp with time zone DEFAULT now() -> void')
  ) v(f, sig);
SELECT is((SELECT p.prosecdef AND p.proconfig @> ARRAY['search_path=pg_catalog, sanse']
                  AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
                  AND NOT has_function_privilege('sanse_t25_app', p.oid, 'EXECUTE')
             FROM pg_proc p WHERE p.oid = 'sanse.loop_transition(bigint, text, bigint, timestamptz, text, text, integer, boolean, text)'::regprocedure),
          true, 'loop_transition: SECURITY DEFINER with a pinned search_path, executable by no client');

SELECT * FROM finish();
ROLLBACK;
