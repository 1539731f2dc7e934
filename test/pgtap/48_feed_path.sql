-- pgTAP: issue 20 — the faster path of a department's feed (the benchmark
-- targets), with the same outcomes:
--   * for a large batch (over 10,000 rows) apply_feed reads what the
--     department asserts about its people in one pass, hashed: classifying
--     scans factor_source once, not once a known person (it did);
--   * an apply in which nobody is new runs no INSERT into resident (whose
--     statement triggers ran for no row: the carers' gaps recomputed);
--     an apply with one new person still registers them;
--   * feed_inbox's index on the ID hash is a hash index (equality lookups
--     only: forgetting a resident finds their feed rows by it), and
--     factor_source has no index by department;
--   * the same snapshot again changes nothing; a changed one changes only
--     what it changes.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.timezone = 'Asia/Shanghai';
SET LOCAL track_functions = 'all';
\ir include/helpers.psql
SELECT plan(15);

CREATE FUNCTION pg_temp.mod11_2(body text) RETURNS text LANGUAGE sql AS $$
	SELECT body || substr('10X98765432',
	         (SELECT sum(substr(body, i, 1)::int * ((2 ^ (18 - i))::int % 11)) FROM generate_series(1, 17) i)::int % 11 + 1, 1)
$$;
CREATE FUNCTION pg_temp.idn(k int) RETURNS text LANGUAGE sql AS $$ SELECT pg_temp.mod11_2('5101074' || lpad(k::text, 10, '0')) $$;
-- scans of factor_source (sequential or by index) and calls of carer_gap_refresh in this transaction so far
CREATE FUNCTION pg_temp.fs_idx_scans() RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(sum(seq_scan + idx_scan), 0)::bigint FROM pg_stat_xact_user_tables WHERE schemaname = 'sanse' AND relname = 'factor_source'
$$;
CREATE FUNCTION pg_temp.gap_calls() RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_xact_user_functions WHERE schemaname = 'sanse' AND funcname = 'carer_gap_refresh'
$$;
CREATE FUNCTION pg_temp.load(b text, changed int, extra boolean) RETURNS void LANGUAGE sql AS $$
	INSERT INTO sanse.feed_inbox (department, batch, line, id_number, name, area_path, factors)
	SELECT 't48_health', b, k, pg_temp.idn(k), NULL, NULL,
	       CASE WHEN k <= changed THEN '{lives_alone,unstable_chronic}' ELSE '{lives_alone}' END::text[]
	  FROM generate_series(1, 300) k
	UNION ALL
	SELECT 't48_health', b, 301, pg_temp.idn(301), 'New person', 'f48.t.v.tg.g.m', '{sudden_illness,no_caregiver}'
	 WHERE extra
$$;
CREATE FUNCTION pg_temp.outcomes(b text) RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY outcome)
	  FROM (SELECT outcome, count(*) AS n FROM sanse.feed_inbox WHERE department = 't48_health' AND batch = b GROUP BY outcome) x
$$;

-----------------------------------------------------------------------------
-- fixture: a micro grid, its leader, 300 residents known by ID number
-----------------------------------------------------------------------------
INSERT INTO sanse.area (id, path, kind, name) OVERRIDING SYSTEM VALUE VALUES
  (948001, 'f48', 'district', 'F'), (948002, 'f48.t', 'town', 'FT'), (948003, 'f48.t.v', 'village', 'FV'),
  (948004, 'f48.t.v.tg', 'total_grid', 'FTG'), (948005, 'f48.t.v.tg.g', 'general_grid', 'FG'),
  (948006, 'f48.t.v.tg.g.m', 'micro_grid', 'FM');
INSERT INTO sanse.worker (name, force, role, area_id) VALUES ('t48 lead', 'grid_officer', 'micro_grid_leader', 948006);
INSERT INTO sanse.department (code, name) VALUES ('t48_health', 'Health commission');
INSERT INTO sanse.resident (area_id, name, factors, id_number)
SELECT 948006, 'p' || k, '{}', pg_temp.idn(k) FROM generate_series(1, 300) k;

-----------------------------------------------------------------------------
-- b1: the department's first list
-----------------------------------------------------------------------------
SELECT pg_temp.load('b1', 0, false);
SELECT is((SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY outcome) FROM sanse.apply_feed('t48_health', 'b1') WHERE n > 0),
          'matched 300', 'b1: the 300 residents matched');
SELECT is((SELECT count(*) FROM sanse.factor_source WHERE source = 't48_health' AND until IS NULL), 300::bigint,
          'b1: 300 sources of the department open');

-----------------------------------------------------------------------------
-- b2: the same list again
-----------------------------------------------------------------------------
SELECT pg_temp.load('b2', 0, false);
CREATE TEMP TABLE before_b2 AS
SELECT pg_temp.fs_idx_scans() AS scans, pg_temp.gap_calls() AS gaps,
       (SELECT count(*) FROM sanse.tier_history) AS hist, (SELECT count(*) FROM sanse.factor_source) AS sources,
       (SELECT count(*) FROM sanse.resident) AS residents;
SELECT is(pg_temp.outcomes('b2'), NULL, 'b2 loaded: no row has an outcome before the apply');
SELECT is((SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY outcome) FROM sanse.apply_feed('t48_health', 'b2') WHERE n > 0),
          'matched 300', 'b2 (the same list): the 300 residents matched');
-- a large batch (over 10,000 rows: the same 300 people and 9,701 unknown
-- ones without an area), classified alone as apply_feed does it
INSERT INTO sanse.feed_inbox (department, batch, line, id_number, factors)
SELECT 't48_health', 'large', k, pg_temp.idn(k), '{lives_alone}' FROM generate_series(1, 10001) k;
SELECT sanse.feed_work_tables('t48_health', 'large', current_user);
CREATE TEMP TABLE before_classify AS SELECT pg_temp.fs_idx_scans() AS scans;
SELECT sanse.feed_classify_rows('t48_health', 'large');
SELECT cmp_ok(pg_temp.fs_idx_scans() - (SELECT scans FROM before_classify), '<', 10::bigint,
              'a large batch: classifying reads what the department asserts once, not a probe a person (fewer than 10 scans of factor_source, 300 people known)');
SELECT is((SELECT count(*) FILTER (WHERE same) || ' same, ' || count(*) FILTER (WHERE outcome = 'rejected') || ' rejected' FROM pg_temp.feed_work),
          '300 same, 9701 rejected', 'a large batch: the 300 known say what the department asserts already, the unknown without an area are rejected');
TRUNCATE pg_temp.feed_work;
DELETE FROM sanse.feed_inbox WHERE department = 't48_health' AND batch = 'large';
SELECT is(pg_temp.gap_calls() - (SELECT gaps FROM before_b2), 0::bigint,
          'b2: nobody new, no INSERT into resident (its statement triggers did not run: carer_gap_refresh not called)');
SELECT is(((SELECT count(*) FROM sanse.tier_history) - hist, (SELECT count(*) FROM sanse.factor_source) - sources,
           (SELECT count(*) FROM sanse.resident) - residents), (0::bigint, 0::bigint, 0::bigint),
          'b2 changed nothing: no tier history row, no source, no resident')
  FROM before_b2;

-----------------------------------------------------------------------------
-- b3: ten people with a new factor, and one person new to sanse
-----------------------------------------------------------------------------
SELECT pg_temp.load('b3', 10, true);
CREATE TEMP TABLE before_b3 AS SELECT pg_temp.gap_calls() AS gaps;
SELECT is((SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY outcome) FROM sanse.apply_feed('t48_health', 'b3') WHERE n > 0),
          'matched 300, registered 1', 'b3: 300 matched, the new person registered');
SELECT is((SELECT count(*) FROM sanse.factor_source WHERE source = 't48_health' AND until IS NULL AND factor = 'unstable_chronic'),
          10::bigint, 'b3: the ten new factors are the department''s');
SELECT is((SELECT count(*) FROM sanse.resident WHERE 'unstable_chronic' = ANY (factors)), 10::bigint,
          'b3: and the ten residents'' factors');
SELECT is((SELECT tier::text FROM sanse.resident WHERE id_number_hash = sanse.id_number_hash(pg_temp.idn(301))), 'red',
          'b3: the new person is registered and classified at once (sudden illness, no caregiver: red)');
SELECT cmp_ok(pg_temp.gap_calls() - (SELECT gaps FROM before_b3), '>', 0::bigint,
              'b3: someone new: the INSERT into resident ran, with its statement triggers');

-----------------------------------------------------------------------------
-- the indexes
-----------------------------------------------------------------------------
SELECT is((SELECT am.amname::text FROM pg_class c JOIN pg_am am ON am.oid = c.relam
            WHERE c.oid = 'sanse.feed_inbox_hash'::regclass), 'hash',
          'feed_inbox''s index on the ID hash is a hash index');
SELECT is((SELECT count(*) FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
            WHERE x.indrelid = 'sanse.factor_source'::regclass AND a.attname = 'source'), 0::bigint,
          'factor_source has no index led by the department (source)');

SELECT * FROM finish();
ROLLBACK;
