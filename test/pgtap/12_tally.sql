-- pgTAP: the worker_month tally behind worker_checkin_rate.  Every number
-- below is worked out from the story, not read from output.
BEGIN;
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'Asia/Shanghai';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(20);

SELECT has_table('sanse', 'worker_month', 'worker_month table');
SELECT col_is_pk('sanse', 'worker_month', ARRAY['worker_id', 'month'], 'one row per worker and month');
SELECT has_column('sanse', 'event', 'charged_to', 'events record the carers they are charged to');

-- A, B, C and a second micro grid leader L in the shared district's M1
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, v.force, v.role, a.id
  FROM (VALUES ('A', 'volunteer', 'member'), ('B', 'community_cadre', 'member'),
               ('C', 'community_cadre', 'member'), ('L', 'grid_officer', 'micro_grid_leader')) v(name, force, role)
 CROSS JOIN area a WHERE a.path = 'd.t.v.tg.g.m1';
-- P: red (rolling 2 days) from 2024-03-01 09:00, cared for by A and C
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT id, 'P', '{accident_risk}', '2024-03-01 09:00+08' FROM area WHERE path = 'd.t.v.tg.g.m1';
INSERT INTO carer (resident_id, worker_id) SELECT r.id, pg_temp.worker_id(w) FROM resident r, unnest(ARRAY['A', 'C']) w;
SELECT door_token(id) AS p_token FROM resident WHERE name = 'P' \gset

CREATE FUNCTION pg_temp.tally() RETURNS TABLE (worker text, month date, met bigint, missed bigint, visits bigint,
                                               flagged bigint, items bigint)
LANGUAGE sql AS $$
	SELECT w.name, m.month, m.windows_met, m.windows_missed, m.visits, m.flagged_visits, m.checklist_items
	  FROM sanse.worker_tally m JOIN sanse.worker w ON w.id = m.worker_id ORDER BY 1, 2
$$;

-- 1. A visits 03-02 10:00 with all nine items: the window due 03-03 09:00 is
--    met, for both carers; the visit is A's.
SELECT check_in(:'p_token', pg_temp.worker_id('A'), '2024-03-02 10:00+08', checklist_items());
SELECT results_eq('SELECT * FROM pg_temp.tally()',
  $$VALUES ('A', '2024-03-01'::date, 1::bigint, 0::bigint, 1::bigint, 0::bigint, 9::bigint),
           ('C', '2024-03-01', 1, 0, 0, 0, 0)$$,
  'a visit that meets a window counts for every carer, and as a visit for the visitor');
SELECT results_eq('SELECT count(*), count(DISTINCT worker_id) FROM worker_month_pending', 'VALUES (3::bigint, 2::bigint)',
  'check_in appended a pending row per worker and count: the visit (A) and the window met (A and C)');

-- 2. C hands P over to B; 3. the sweep of 03-07 finds the window due 03-04 10:00
--    missed: charged to the carers of that moment, A and B.
UPDATE carer SET worker_id = pg_temp.worker_id('B') WHERE worker_id = pg_temp.worker_id('C');
SELECT is((sweep('2024-03-07 00:00+08')).overdue_opened, 1, 'the sweep opens one event');
SELECT is((SELECT charged_to FROM event), ARRAY[pg_temp.worker_id('A'), pg_temp.worker_id('B')], 'the event is charged to A and B');
SELECT is((SELECT count(*) FROM worker_month_pending), 0::bigint, 'the sweep folded every pending row into worker_month');
SELECT results_eq('SELECT * FROM pg_temp.tally()',
  $$VALUES ('A', '2024-03-01'::date, 1::bigint, 1::bigint, 1::bigint, 0::bigint, 9::bigint),
           ('B', '2024-03-01', 0, 1, 0, 0, 0),
           ('C', '2024-03-01', 1, 0, 0, 0, 0)$$,
  'a missed window counts against the carers when it is missed; C keeps the window met in its care');

-- 4. B hands P back to C; 5. A's visit of 03-04 09:00 (in time) reaches the
--    server only now: the window is met (credited to A and C, the carers now),
--    the event should never have existed and is taken back from A and B.
UPDATE carer SET worker_id = pg_temp.worker_id('C') WHERE worker_id = pg_temp.worker_id('B');
SELECT check_in(:'p_token', pg_temp.worker_id('A'), '2024-03-04 09:00+08', '{ask_health,check_gas,clear_passage}');
SELECT is((SELECT count(*) FROM event), 0::bigint, 'the visit synced after the sweep removed the event');
SELECT results_eq('SELECT * FROM pg_temp.tally()',
  $$VALUES ('A', '2024-03-01'::date, 2::bigint, 0::bigint, 2::bigint, 0::bigint, 12::bigint),
           ('B', '2024-03-01', 0, 0, 0, 0, 0),
           ('C', '2024-03-01', 2, 0, 0, 0, 0)$$,
  'a removed event is taken back from exactly the workers it was charged to');

-- 6. A comes back at 2024-03-31 17:00 UTC, which is 04-01 01:00 in Shanghai:
--    a late visit (the window was due 03-06 09:00), empty checklist.  The
--    missed window is March's, charged to A and C; the visit is April's.
SELECT check_in(:'p_token', pg_temp.worker_id('A'), '2024-03-31 17:00+00', '{}');
SELECT is((SELECT charged_to FROM event), ARRAY[pg_temp.worker_id('A'), pg_temp.worker_id('C')], 'the late visit''s event is charged to A and C');
SELECT results_eq('SELECT * FROM pg_temp.tally()',
  $$VALUES ('A', '2024-03-01'::date, 2::bigint, 1::bigint, 2::bigint, 0::bigint, 12::bigint),
           ('A', '2024-04-01', 0, 0, 1, 1, 0),
           ('B', '2024-03-01', 0, 0, 0, 0, 0),
           ('C', '2024-03-01', 2, 1, 0, 0, 0)$$,
  'months are calendar months in sanse.timezone: the missed window in March, the late visit in April');

SELECT results_eq(
  $$SELECT worker_name, month, windows_due, windows_met, checkin_rate, visits, flagged_visits, checklist_completeness
      FROM worker_checkin_rate ORDER BY 1, 2$$,
  $$VALUES ('A', '2024-03-01'::date, 3::bigint, 2::bigint, 0.6667::numeric, 2::bigint, 0::bigint, 0.6667::numeric),
           ('A', '2024-04-01', 0, 0, NULL, 1, 1, 0.0000),
           ('C', '2024-03-01', 3, 2, 0.6667, 0, 0, NULL)$$,
  'worker_checkin_rate: B''s all-zero month is not shown; (9 + 3) / 18 of the checklist in March, 0 in April');

-- Folding moves rows without changing any total.
CREATE TEMP TABLE unfolded AS SELECT * FROM pg_temp.tally();
SELECT ok(fold_worker_month() > 0, 'fold_worker_month folds the rows of the check-ins since the sweep');
SELECT results_eq('SELECT * FROM pg_temp.tally()', 'SELECT * FROM unfolded', 'folding changes no total');

-- A retried scan is not counted twice.
SELECT check_in(:'p_token', pg_temp.worker_id('A'), '2024-03-31 17:00+00', '{}');
SELECT is((SELECT visits FROM worker_tally WHERE worker_id = pg_temp.worker_id('A') AND month = '2024-04-01'), 1::bigint,
          'a retried check-in is not tallied again');

-- Nobody but sanse writes the tally.
SELECT is(has_table_privilege('public', 'sanse.worker_month', 'INSERT') OR has_table_privilege('public', 'sanse.worker_month_pending', 'INSERT'),
          false, 'PUBLIC cannot write the tally');

-- rebuild_worker_month recounts from visits and events with the carers of now
-- (A and C): the same numbers, since A and C are also who they were charged to;
-- B's all-zero row is not recreated.
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.tally() WHERE worker <> 'B';
SELECT is(rebuild_worker_month(), 3::bigint, 'rebuild writes three rows');
SELECT results_eq('SELECT * FROM pg_temp.tally()', 'SELECT * FROM before', 'rebuild reproduces the tally kept by check-ins and sweeps');

SELECT * FROM finish();
ROLLBACK;
