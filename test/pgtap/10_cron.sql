-- pgTAP: sweeps scheduled through pg_cron (this database is cron.database_name
-- in the test cluster, where pg_cron is preloaded).
BEGIN;
SET LOCAL search_path = public, sanse;
\ir include/helpers.psql
SELECT plan(10);

SELECT has_function('sanse', 'schedule_sweeps', ARRAY['text'], 'schedule_sweeps(schedule)');
SELECT has_function('sanse', 'unschedule_sweeps', 'unschedule_sweeps()');

-- without pg_cron in the database: 55000 with a hint
SELECT throws_ok($$SELECT sanse.schedule_sweeps()$$, '55000', 'pg_cron is not installed in this database',
                 'schedule_sweeps without pg_cron is 55000');
SELECT throws_ok($$SELECT sanse.unschedule_sweeps()$$, '55000', 'pg_cron is not installed in this database',
                 'unschedule_sweeps without pg_cron is 55000');

CREATE EXTENSION pg_cron;
SELECT ok(sanse.schedule_sweeps() > 0, 'schedule_sweeps returns the job id');
SELECT results_eq($$SELECT schedule, command FROM cron.job WHERE jobname = 'sanse-sweep:contrib_regression'$$,
                  $$VALUES ('* * * * *'::text, 'SELECT sanse.sweep()'::text)$$,
                  'one job runs SELECT sanse.sweep() every minute');
SELECT is(sanse.schedule_sweeps('*/5 * * * *'),
          (SELECT jobid FROM cron.job WHERE jobname = 'sanse-sweep:contrib_regression'),
          'a second call updates the same job');
SELECT results_eq($$SELECT schedule FROM cron.job WHERE jobname = 'sanse-sweep:contrib_regression'$$,
                  $$VALUES ('*/5 * * * *'::text)$$, 'still one job, with the new schedule');
SELECT ok(sanse.unschedule_sweeps(), 'unschedule_sweeps drops the job');
SELECT ok(NOT sanse.unschedule_sweeps(), 'unschedule_sweeps is false when there is no job');

SELECT * FROM finish();
ROLLBACK;
