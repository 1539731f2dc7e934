-- Sweeps cost in proportion to due work: with many residents and little due,
-- sanse.sweep_overdue, sanse.sweep_escalations and sanse.sweep themselves
-- (their own statements, as planned inside the functions) read indexes, never
-- the whole resident or event table.  Checked through this transaction's scan
-- counters (pg_stat_get_xact_numscans: sequential scans of a table, index
-- scans of an index) taken before and after each call.
SET search_path = sanse, public;
SET TimeZone = 'Asia/Shanghai';
INSERT INTO area (path, kind, name) VALUES
  ('p', 'district', 'P'), ('p.t', 'town', 'T'), ('p.t.v', 'village', 'V'),
  ('p.t.v.tg', 'total_grid', 'TG'), ('p.t.v.tg.g', 'general_grid', 'G'), ('p.t.v.tg.g.m', 'micro_grid', 'M');
-- 20,000 residents: 19,990 blue registered today (due at the end of next
-- month), 10 red ones registered 3 days ago (due a day ago)
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'r' || i, CASE WHEN i <= 10 THEN '{accident_risk}'::text[] ELSE '{mobility_impaired}' END,
       CASE WHEN i <= 10 THEN now() - interval '3 days' ELSE now() END
  FROM area a, generate_series(1, 20000) i WHERE a.kind = 'micro_grid';
-- and a history of 20,000 closed events
INSERT INTO event (resident_id, area_id, tier, level, due_at, level_since, status, resolved_at)
SELECT r.id, r.area_id, 'blue', 1, now() - interval '40 days', now() - interval '40 days', 'closed', now() - interval '39 days'
  FROM resident r;
ANALYZE resident;
ANALYZE event;
SELECT count(*) AS residents, count(*) FILTER (WHERE due_at(next_visit) <= now()) AS due FROM resident;

-- scan counters of this transaction: resident and event read sequentially,
-- and the two indexes the sweeps must use
CREATE FUNCTION pg_temp.scan_counts() RETURNS TABLE (what text, n bigint)
LANGUAGE sql AS $$
  SELECT v.what, pg_stat_get_xact_numscans(v.rel)
    FROM (VALUES ('resident_seq', 'sanse.resident'::regclass), ('event_seq', 'sanse.event'::regclass),
                 ('resident_due', 'sanse.resident_due'::regclass),
                 ('event_open_next_step', 'sanse.event_open_next_step'::regclass)) v(what, rel)
$$;
CREATE TEMP TABLE scans_before (what text, n bigint);
-- remember the counters now
CREATE FUNCTION pg_temp.mark() RETURNS void
LANGUAGE sql AS $$
  DELETE FROM scans_before;
  INSERT INTO scans_before SELECT * FROM pg_temp.scan_counts();
$$;
-- what happened since the mark: sequential scans of resident and event (must
-- stay 0), whether resident_due and event_open_next_step were used
CREATE FUNCTION pg_temp.scans_since_mark(OUT resident_seq_scans bigint, OUT event_seq_scans bigint,
                                         OUT used_resident_due boolean, OUT used_event_open_next_step boolean)
LANGUAGE sql AS $$
  SELECT max(a.n - b.n) FILTER (WHERE a.what = 'resident_seq'),
         max(a.n - b.n) FILTER (WHERE a.what = 'event_seq'),
         bool_or(a.n > b.n) FILTER (WHERE a.what = 'resident_due'),
         bool_or(a.n > b.n) FILTER (WHERE a.what = 'event_open_next_step')
    FROM pg_temp.scan_counts() a JOIN scans_before b USING (what)
$$;

-- sweep_overdue opens the 10 missed windows through resident_due
BEGIN;
SELECT pg_temp.mark();
SELECT sweep_overdue(now());
SELECT * FROM pg_temp.scans_since_mark();
-- sweep_escalations takes them to level 4 (3 steps each, 4 h apart) through
-- event_open_next_step
SELECT pg_temp.mark();
SELECT sweep_escalations(now());
SELECT * FROM pg_temp.scans_since_mark();
ROLLBACK;

-- sweep does both (and folds the tally) the same way; the first sweep also
-- publishes the screen for aggregate-only roles (77_published.sql); coverage
-- is kept per micro grid (80_area_count.sql): one scan of resident in all
BEGIN;
SELECT pg_temp.mark();
SELECT overdue_opened, escalations, skipped FROM sweep(now());
SELECT * FROM pg_temp.scans_since_mark();
-- a sweep that finds nothing new reads no more
SELECT pg_temp.mark();
SELECT overdue_opened, escalations, skipped FROM sweep(now());
SELECT * FROM pg_temp.scans_since_mark();
-- nor do the sweeps of a session that has swept many times (PL/pgSQL plans
-- its statements afresh only for the first five calls, then may reuse a
-- generic plan that does not know how few are due)
SELECT pg_temp.mark();
SELECT count(*) AS sweeps, sum((s).overdue_opened) AS overdue_opened, sum((s).escalations) AS escalations
  FROM (SELECT sweep(now()) AS s FROM generate_series(1, 10)) ten;
SELECT * FROM pg_temp.scans_since_mark();
ROLLBACK;

-- leave the tables empty for the next test (quietly: which tables the
-- cascade reaches is not what this test is about)
SET client_min_messages = warning;
TRUNCATE event_step, event, tier_history, resident, area, worker_month_pending RESTART IDENTITY CASCADE;
RESET client_min_messages;
