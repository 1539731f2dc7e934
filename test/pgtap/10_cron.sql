-- pgTAP: sweeps scheduled through pg_cron (this database is cron.database_name
-- in the test cluster, where pg_cron is preloaded).  One job per database,
-- named sanse-sweep:<database>; a sweep operator that is not a superuser (the
-- README's sanse_sweeper grants, under a name of this file's) schedules it
-- once it has USAGE on schema cron; unschedule_sweeps leaves other databases'
-- jobs alone.  Nothing here waits for pg_cron: test/cron_runs.sh does.
BEGIN;
SET LOCAL search_path = public, sanse;
\ir include/helpers.psql
SELECT plan(26);

SELECT has_function('sanse', 'schedule_sweeps', ARRAY['text'], 'schedule_sweeps(schedule)');
SELECT has_function('sanse', 'unschedule_sweeps', 'unschedule_sweeps()');
SELECT has_function('sanse', 'sweep_job', 'sweep_job()');
SELECT has_function('sanse', 'sweep_job_name', 'sweep_job_name()');
SELECT is(sanse.sweep_job_name(), 'sanse-sweep:' || current_database(), 'the job is named sanse-sweep:<database>');

-- without pg_cron in the database: 55000 with a hint
SELECT throws_ok($$SELECT sanse.schedule_sweeps()$$, '55000', 'pg_cron is not installed in this database',
                 'schedule_sweeps without pg_cron is 55000');
SELECT is((pg_temp.error_of($$SELECT sanse.schedule_sweeps('*/5 * * * *')$$)).hint,
          'CREATE EXTENSION pg_cron here if this is the database named by cron.database_name; '
          'otherwise run in that database: '
          || format('SELECT cron.schedule_in_database(%L, ''*/5 * * * *'', ''SELECT sanse.sweep()'', %L);',
                    'sanse-sweep:' || current_database(), current_database()),
          'its hint is the README''s schedule_in_database call for this database, with the schedule given');
SELECT throws_ok($$SELECT sanse.unschedule_sweeps()$$, '55000', 'pg_cron is not installed in this database',
                 'unschedule_sweeps without pg_cron is 55000');
SELECT is((pg_temp.error_of($$SELECT sanse.unschedule_sweeps()$$)).hint,
          format('In the database named by cron.database_name run: SELECT cron.unschedule(%L);',
                 'sanse-sweep:' || current_database()),
          'its hint names this database''s job');
SELECT throws_ok($$SELECT * FROM sanse.sweep_job()$$, '55000', 'pg_cron is not installed in this database',
                 'sweep_job without pg_cron is 55000');

CREATE EXTENSION pg_cron;

-- the README's sweep operator: EXECUTE on sweep, and a login member
CREATE ROLE sanse_t10_sweeper NOLOGIN;
GRANT EXECUTE ON FUNCTION sanse.sweep(timestamptz) TO sanse_t10_sweeper;
CREATE ROLE sanse_t10_operator LOGIN IN ROLE sanse_t10_sweeper;

SELECT is(pg_temp.sqlstate_as('sanse_t10_operator', $$SELECT sanse.schedule_sweeps()$$), '42501',
          'without USAGE on schema cron the operator cannot schedule (42501)');
GRANT USAGE ON SCHEMA cron TO sanse_t10_sweeper;	-- the README's grant in the cron database

SET LOCAL ROLE sanse_t10_operator;
SELECT ok(sanse.schedule_sweeps() > 0, 'the operator''s schedule_sweeps returns the job id');
RESET ROLE;
SELECT results_eq($$SELECT jobname::text COLLATE "default", database::text, username::text, schedule, command, active FROM cron.job$$,
                  format($$VALUES (%L, %L, 'sanse_t10_operator', '* * * * *', 'SELECT sanse.sweep()', true)$$,
                         'sanse-sweep:' || current_database(), current_database()),
                  'one job, in this database, as the operator, runs SELECT sanse.sweep() every minute');

SET LOCAL ROLE sanse_t10_operator;
SELECT is(sanse.schedule_sweeps('*/5 * * * *'),
          (SELECT jobid FROM cron.job WHERE jobname = sanse.sweep_job_name()),
          'a second call updates the same job');
RESET ROLE;
SELECT results_eq($$SELECT schedule FROM cron.job$$, $$VALUES ('*/5 * * * *'::text)$$,
                  'still one job, with the new schedule');

-- another database's job, scheduled the README's way (a superuser, here)
SELECT ok(cron.schedule_in_database('sanse-sweep:template1', '* * * * *', 'SELECT sanse.sweep()', 'template1') > 0,
          'a superuser schedules another database''s job with schedule_in_database');
SELECT results_eq($$SELECT jobname::text COLLATE "default", database::text FROM cron.job ORDER BY jobname$$,
                  format($$VALUES (%L, %L), ('sanse-sweep:template1', 'template1')$$,
                         'sanse-sweep:' || current_database(), current_database()),
                  'both jobs side by side, each for its own database');

SET LOCAL ROLE sanse_t10_operator;
SELECT results_eq($$SELECT jobname, schedule, username, active, last_status, last_start FROM sanse.sweep_job()$$,
                  format($$VALUES (%L, '*/5 * * * *', 'sanse_t10_operator', true, NULL::text, NULL::timestamptz)$$,
                         'sanse-sweep:' || current_database()),
                  'sweep_job(), for the operator: its job, not run yet');
RESET ROLE;
SELECT results_eq($$SELECT jobname FROM sanse.sweep_job()$$, $$VALUES (sanse.sweep_job_name())$$,
                  'sweep_job(), for a superuser who sees every job: only this database''s');

-- a superuser rescheduling another database's job leaves this one's alone
SELECT is(cron.schedule_in_database('sanse-sweep:template1', '*/2 * * * *', 'SELECT sanse.sweep()', 'template1'),
          (SELECT jobid FROM cron.job WHERE jobname = 'sanse-sweep:template1'),
          'schedule_in_database again updates that job');
SELECT results_eq($$SELECT jobname::text COLLATE "default", database::text, schedule FROM cron.job ORDER BY jobname$$,
                  format($$VALUES (%L, %L, '*/5 * * * *'), ('sanse-sweep:template1', 'template1', '*/2 * * * *')$$,
                         'sanse-sweep:' || current_database(), current_database()),
                  'and this database''s job keeps its database and schedule');

SET LOCAL ROLE sanse_t10_operator;
SELECT ok(sanse.unschedule_sweeps(), 'the operator''s unschedule_sweeps drops its job');
SELECT ok(NOT sanse.unschedule_sweeps(), 'unschedule_sweeps is false when there is no job');
RESET ROLE;
SELECT ok(NOT sanse.unschedule_sweeps(), 'a superuser''s unschedule_sweeps here is false: no job for this database');
SELECT results_eq($$SELECT jobname::text COLLATE "default", database::text FROM cron.job$$,
                  $$VALUES ('sanse-sweep:template1', 'template1')$$,
                  'the other database''s job remains');
SELECT is_empty($$SELECT * FROM sanse.sweep_job()$$, 'sweep_job() is empty once the job is dropped');

SELECT * FROM finish();
ROLLBACK;
