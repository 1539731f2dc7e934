-- pgTAP: issue 22, the closed loop's hot path in C (src/loop_path.c).
-- raise_event, arrive and handle_event take the plain case in C and hand
-- everything else to the PL/pgSQL path (sanse.loop_raise,
-- sanse.loop_transition).  Twin residents of one micro grid, one driven
-- through the pinned functions, the other through the PL/pgSQL path with
-- the same values: every column of the event, its steps and its
-- transitions come out the same, and the C side did not call the PL/pgSQL
-- path (pg_stat_xact_user_functions); a retry, a lapsed clock and a
-- refusal are handed to it, and do there what they did before.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL sanse.timezone = 'Asia/Shanghai';
SET LOCAL TimeZone = 'Asia/Shanghai';
SET LOCAL sanse.max_backdate = '10 years';	-- loop times dated in 2024
SET LOCAL track_functions = 'pl';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(16);

INSERT INTO resident (area_id, name, factors)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Fast', '{accident_risk}'),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'Slow', '{accident_risk}');
SELECT pg_temp.resident_id('Fast') AS fast, pg_temp.resident_id('Slow') AS slow, pg_temp.worker_id('lead m1') AS lead \gset

-- what a twin's event, steps and transitions hold, but for the ids that differ
CREATE FUNCTION pg_temp.shape(p_event bigint) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_object(
	         'event', to_jsonb(e) - 'id' - 'resident_id',
	         'steps', (SELECT jsonb_agg(jsonb_build_array(s.level, s.assignee_id, s.at) ORDER BY s.at, s.level)
	                     FROM sanse.event_step s WHERE s.event_id = e.id),
	         'transitions', (SELECT jsonb_agg(jsonb_build_array(t.stage, t.at, t.worker_id, t.note, t.acted_as, t.login) ORDER BY t.id)
	                           FROM sanse.event_transition t WHERE t.event_id = e.id))
	  FROM sanse.event e WHERE e.id = p_event $$;
-- how often this transaction called a PL/pgSQL function of sanse
CREATE FUNCTION pg_temp.calls(f text) RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions WHERE schemaname = 'sanse' AND funcname = f $$;

-----------------------------------------------------------------------------
-- 1. raise, arrive, handle: the plain case in C, the same rows
-----------------------------------------------------------------------------
SELECT sanse.raise_event('warning', :fast, 'fell in the kitchen', 'grid', '2024-03-05 10:00+08') AS fe \gset
SELECT is(pg_temp.calls('loop_raise'), 0::bigint, 'a plain raise_event is taken in C (sanse.loop_raise not called)');
SELECT sanse.loop_raise('warning', :slow, 'fell in the kitchen', 'grid', '2024-03-05 10:00+08', NULL) AS se \gset
SELECT is(pg_temp.shape(:fe), pg_temp.shape(:se), 'raise_event in C writes the event, step and transition the PL/pgSQL path writes');
SELECT is((SELECT status || ' ' || level || ' ' || next_step_at FROM sanse.event WHERE id = :fe),
          'called 1 2024-03-05 10:15:00+08', '... called at level 1, its 15-minute arrival clock running (loop_policy of a warning)');

SELECT sanse.arrive(:fe, :lead, sanse.door_token(:fast), '2024-03-05 10:05+08');
SELECT is(pg_temp.calls('loop_transition'), 0::bigint, 'a plain arrive is taken in C (sanse.loop_transition not called)');
SELECT sanse.loop_transition(:se, 'arrived', :lead, '2024-03-05 10:05+08', p_token => sanse.door_token(:slow)) IS NULL AS ignored \gset
SELECT is(pg_temp.shape(:fe), pg_temp.shape(:se), 'arrive in C writes what the PL/pgSQL path writes');
SELECT is((SELECT status || ' ' || arrived_by || ' ' || next_step_at FROM sanse.event WHERE id = :fe),
          'arrived ' || :lead || ' 2024-03-05 12:05:00+08', '... arrived, its 2-hour handling clock running');

SELECT sanse.handle_event(:fe, :lead, 'helped up', '2024-03-05 10:30+08');
SELECT is(pg_temp.calls('loop_transition'), 1::bigint, 'a plain handle_event is taken in C (only the twin''s call counted)');
SELECT sanse.loop_transition(:se, 'handled', :lead, '2024-03-05 10:30+08', 'helped up') IS NULL AS ignored \gset
SELECT is(pg_temp.shape(:fe), pg_temp.shape(:se), 'handle_event in C writes what the PL/pgSQL path writes');

-----------------------------------------------------------------------------
-- 2. what C hands on: a retry, a lapsed clock, a refusal
-----------------------------------------------------------------------------
SELECT is(sanse.raise_event('warning', :fast, 'fell in the kitchen', 'grid', '2024-03-05 10:00+08'), :fe::bigint,
          'a retried call returns the event the first made');
SELECT is(pg_temp.calls('loop_raise'), 2::bigint, '... handed to sanse.loop_raise');
SELECT lives_ok(format($$SELECT sanse.arrive(%s, %s, sanse.door_token(%s), '2024-03-05 10:05+08')$$, :fe, :lead, :fast),
                'a retried arrival is taken as done');

-- arrivals after the arrival clock lapsed (10:15): the level reached by then
SELECT sanse.raise_event('request', :fast, 'no water', 'grid', '2024-03-05 09:00+08') AS fe2 \gset
SELECT sanse.loop_raise('request', :slow, 'no water', 'grid', '2024-03-05 09:00+08', NULL) AS se2 \gset
SELECT sanse.arrive(:fe2, :lead, sanse.door_token(:fast), '2024-03-05 12:00+08');
SELECT sanse.loop_transition(:se2, 'arrived', :lead, '2024-03-05 12:00+08', p_token => sanse.door_token(:slow)) IS NULL AS ignored \gset
SELECT is(pg_temp.shape(:fe2), pg_temp.shape(:se2), 'an arrival after its clock lapsed writes what the PL/pgSQL path writes');
-- a red resident's request: 30 minutes to arrive (loop_policy), so levels 2, 3 and 4 at 09:30, 10:00 and 10:30
SELECT is((SELECT string_agg(level || ' ' || to_char(at, 'HH24:MI'), ', ' ORDER BY at) FROM sanse.event_step WHERE event_id = :fe2),
          '1 09:00, 2 09:30, 3 10:00, 4 10:30', '... the steps its lapsed 30-minute clock took before the arrival');

SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.arrive(%s, %s, sanse.door_token(%s), '2024-03-05 12:05+08')$$, :fe2, :lead, :fast)),
          '55000', 'an event arrived at already is refused with 55000 (the PL/pgSQL path''s words)');
SELECT sanse.raise_event('warning', :fast, 'smoke', 'grid', '2024-03-05 13:00+08') AS fe3 \gset
SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.arrive(%s, %s, sanse.door_token(%s), '2024-03-05 13:05+08')$$, :fe3, :lead, :slow)),
          '28000', 'a token for another door is refused with 28000');
SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.handle_event(%s, %s, 'x', '2024-03-05 13:05+08')$$, :fe3, :lead)),
          '55000', 'handling an event not arrived at is refused with 55000');

SELECT * FROM finish();
ROLLBACK;
