-- CPU time per call of check_in and the loop's transitions, read from this
-- backend's /proc/<pid>/stat (utime + stime, in ticks of 10 ms), 1,500 calls
-- of each in one transaction that is rolled back.  Unlike a pgbench ratio it
-- hardly moves when neighbours load the machine, so it compares two builds
-- run one after the other (issue 22).  Linux only; a superuser on the
-- database run_bench.sh set up, after test/bench/loop.sql:
--   BENCH_PARTS=none sh test/bench/run_bench.sh    (setup only)
--   psql -d sanse_bench -f test/bench/loop.sql -f test/bench/cpu_per_call.sql
-- The first run also closes the district's initial overdue events: take the
-- later runs.  The bare insert (into a temporary table, no commit) is only a
-- floor: most of a bare INSERT's cost in pgbench is its protocol and commit.
BEGIN;
SET client_min_messages = warning;
CREATE OR REPLACE FUNCTION pg_temp.ticks() RETURNS bigint LANGUAGE sql AS $$
	SELECT split_part(x, ' ', 12)::bigint + split_part(x, ' ', 13)::bigint
	  FROM (SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2) x) s $$;
CREATE TEMP TABLE cpu (what text, calls int, us numeric);
SELECT bench.refill_loop('arrive', 3000), bench.refill_loop('handle', 3000);
CREATE TEMP TABLE bare (LIKE bench.bare_visit INCLUDING ALL);
DO $$
DECLARE
	t0 bigint; cnt int := 1500; r record; k int; list text[] := '{ask_health,ask_diet,ask_family,check_water,check_power,check_gas,clear_clutter,clear_garbage,clear_passage}';
	a0 bigint; h0 bigint;
BEGIN
	-- warm
	FOR k IN 1..50 LOOP
		INSERT INTO bare (resident_id, worker_id, at, checklist, flags) VALUES (k, k, clock_timestamp(), list, '{}');
	END LOOP;
	t0 := pg_temp.ticks();
	FOR k IN 1..cnt LOOP
		INSERT INTO bare (resident_id, worker_id, at, checklist, flags) VALUES (k, k, clock_timestamp(), list, '{}');
	END LOOP;
	INSERT INTO cpu VALUES ('bare insert', cnt, (pg_temp.ticks() - t0) * 10000.0 / cnt);
	t0 := pg_temp.ticks();
	FOR r IN SELECT * FROM bench.tokens ORDER BY random() LIMIT cnt LOOP
		PERFORM sanse.check_in(r.token, r.worker_id, clock_timestamp(), list);
	END LOOP;
	INSERT INTO cpu VALUES ('check_in', cnt, (pg_temp.ticks() - t0) * 10000.0 / cnt);
	t0 := pg_temp.ticks();
	FOR r IN SELECT * FROM bench.tokens ORDER BY random() LIMIT cnt LOOP
		PERFORM sanse.raise_event('warning', r.resident_id, 'fall detector', 'grid', clock_timestamp());
	END LOOP;
	INSERT INTO cpu VALUES ('raise_event', cnt, (pg_temp.ticks() - t0) * 10000.0 / cnt);
	t0 := pg_temp.ticks();
	FOR r IN SELECT * FROM bench.loop_pool WHERE kind = 'arrive' AND n > (SELECT last_value FROM bench.arrive_seq) ORDER BY n LIMIT cnt LOOP
		PERFORM sanse.arrive(r.event_id, r.worker_id, r.token, clock_timestamp());
	END LOOP;
	INSERT INTO cpu VALUES ('arrive', cnt, (pg_temp.ticks() - t0) * 10000.0 / cnt);
	t0 := pg_temp.ticks();
	FOR r IN SELECT * FROM bench.loop_pool WHERE kind = 'handle' AND n > (SELECT last_value FROM bench.handle_seq) ORDER BY n LIMIT cnt LOOP
		PERFORM sanse.handle_event(r.event_id, r.worker_id, 'helped up, called the family doctor', clock_timestamp());
	END LOOP;
	INSERT INTO cpu VALUES ('handle_event', cnt, (pg_temp.ticks() - t0) * 10000.0 / cnt);
END
$$;
SELECT what, calls, round(us) AS cpu_us_per_call FROM cpu;
ROLLBACK;
