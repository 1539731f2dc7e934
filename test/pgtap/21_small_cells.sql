-- pgTAP: small cells stay hidden under arithmetic (spec 8; issue 18 item 4)
-- and a report's cost does not depend on one absurd row (item 3).  The
-- attacker's whole game on a demo district is test/small_cells_attack.sh;
-- here, on the shared district, the rules one at a time:
--   - what an aggregate-only role reads is what publish_screen (run by the
--     sweep) published: EXPLAIN ANALYZE as that role executes no scan of a
--     table of people or events, the live branch is never executed; read
--     roles and the owner still read the live numbers;
--   - no hidden cell is alone in its group: an area and its children, the
--     residents and their tiers, in every published view;
--   - zeros beside a hidden number of residents are hidden ("residents
--     hidden, yellow 0, blue 0" would say all are red);
--   - the sweep publishes, at most every ten minutes on the clock (and at
--     once when a day was recorded), and the role can ask when;
--   - grid_daily_report_all walks the days that have rows: an event dated
--     4713 BC (written by the owner, past every function's bounds) adds one
--     day to the walk, not 2.4 million.
-- Fixture (shared district): M1 three red residents, M2 six blue, M3 two
-- yellow and five blue, M4 one red; an overdue event of each resident due
-- 2024-04-01, closed two days later but M1's.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.timezone = 'Asia/Shanghai';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(24);

INSERT INTO sanse.resident (area_id, name, factors, registered_at)
SELECT pg_temp.area_id(v.path), v.path || ' ' || i, v.factors, '2024-03-01 09:00+08'
  FROM (VALUES ('d.t.v.tg.g.m1', 3, '{accident_risk}'::text[]), ('d.t.v.tg.g.m2', 6, '{mobility_impaired}'),
               ('d.t.v.tg.g2.m3', 2, '{partial_care,mobility_impaired}'), ('d.t.v.tg.g2.m3', 5, '{mobility_impaired}'),
               ('d.t.v.tg2.g.m4', 1, '{accident_risk}')) v(path, n, factors),
       generate_series(1, v.n) i;
INSERT INTO sanse.event (resident_id, area_id, tier, due_at, level_since, status, next_step_at, resolved_at)
SELECT r.id, r.area_id, r.tier, '2024-04-01 00:00+08', '2024-04-01 00:00+08',
       CASE WHEN r.area_id = pg_temp.area_id('d.t.v.tg.g.m1') THEN 'open' ELSE 'closed' END,
       CASE WHEN r.area_id = pg_temp.area_id('d.t.v.tg.g.m1') THEN timestamptz '2030-01-01 00:00+08' END,
       CASE WHEN r.area_id = pg_temp.area_id('d.t.v.tg.g.m1') THEN NULL ELSE timestamptz '2024-04-03 00:00+08' END
  FROM sanse.resident r ORDER BY r.id;
SELECT is((SELECT string_agg(a.name || ' ' || r.tier || ' ' || r.n, ', ' ORDER BY a.name, r.tier)
             FROM (SELECT area_id, tier::text, count(*) n FROM sanse.resident GROUP BY 1, 2) r JOIN sanse.area a ON a.id = r.area_id),
          'M1 red 3, M2 blue 6, M3 blue 5, M3 yellow 2, M4 red 1', 'the fixture''s residents');

CREATE ROLE t21_agg NOLOGIN;
CREATE ROLE t21_read NOLOGIN;
INSERT INTO sanse.area_grant (role, path, access) VALUES ('t21_agg', 'd', 'aggregate'), ('t21_read', 'd', 'read');

-- the rows a query returns as a role, each as text, joined by ' ; '
CREATE FUNCTION pg_temp.rows_as(r name, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	res text;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	EXECUTE format($q$SELECT string_agg(x::text, ' ; ') FROM (%s) x$q$, q) INTO res;
	RESET ROLE;
	RETURN res;
END
$$;
-- the relations an EXPLAIN ANALYZE as a role executes a scan of (loops > 0)
CREATE FUNCTION pg_temp.scanned_as(r name, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	plan jsonb;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || q INTO plan;
	RESET ROLE;
	RETURN (WITH RECURSIVE n(j) AS (SELECT plan -> 0 -> 'Plan' UNION ALL SELECT c FROM n, jsonb_array_elements(n.j -> 'Plans') c)
	        SELECT coalesce(string_agg(DISTINCT j ->> 'Relation Name', ',' ORDER BY j ->> 'Relation Name'), 'none')
	          FROM n WHERE (j ->> 'Actual Loops')::int > 0 AND j ? 'Relation Name');
END
$$;

-----------------------------------------------------------------------------
-- Before any publication an aggregate role sees no row; the owner sees all.
-----------------------------------------------------------------------------
SELECT is(pg_temp.rows_as('t21_agg', 'SELECT count(*) FROM sanse.coverage'), '(0)',
          'nothing published yet: an aggregate role reads no row of coverage');
SELECT is((SELECT residents FROM sanse.coverage WHERE path = 'd.t.v.tg.g.m1'), 3::bigint,
          'the owner reads the live numbers: M1''s 3');
SELECT is(pg_temp.rows_as('t21_agg', 'SELECT sanse.screen_published_at()'), '()',
          'screen_published_at() is NULL before the first publication');

-----------------------------------------------------------------------------
-- The sweep publishes (2024-04-05 noon, Shanghai).
-----------------------------------------------------------------------------
SELECT sanse.sweep('2024-04-05 12:00+08') \gset
SELECT is(pg_temp.rows_as('t21_agg', 'SELECT sanse.screen_published_at()'), '("2024-04-05 04:00:00+00")',
          'the sweep published: an aggregate role asks when with screen_published_at()');
SELECT sanse.sweep('2024-04-05 12:01+08') \gset
SELECT is((SELECT published_at FROM sanse.screen_publication), '2024-04-05 12:00+08'::timestamptz,
          'a sweep a minute later (on the clock: at once) does not publish again');

-- the next day's sweep records 04-05 and publishes it at once
SELECT sanse.sweep('2024-04-06 12:00+08') \gset
SELECT is((SELECT string_agg(day::text, ',') FROM sanse.published_history_day), '2024-04-05',
          'a recorded day is published by the sweep that records it');

-- M1: three red residents.  Its residents and red are small (hidden); its 0
-- yellow and 0 blue beside them are hidden as well.  M4: one red (hidden).
SELECT is(pg_temp.rows_as('t21_agg', $$SELECT residents, red, yellow, blue, coverage_rate FROM sanse.coverage WHERE path = 'd.t.v.tg.g.m1'$$),
          '(,,,,)', 'M1 (3 red, 0 yellow, 0 blue): the zeros beside its hidden count are hidden, so nothing says all are red');
SELECT is(pg_temp.rows_as('t21_agg', $$SELECT tier, residents FROM sanse.coverage_by_tier WHERE path = 'd.t.v.tg.g.m1' ORDER BY tier$$),
          '(blue,) ; (red,) ; (yellow,)', 'coverage_by_tier has M1''s three tiers, all hidden as in coverage');
-- G = M1 3 + M2 6: M1 hidden would be G - M2, so M2 (or G) is hidden too
SELECT is(pg_temp.rows_as('t21_agg', $$SELECT count(*) FILTER (WHERE residents IS NULL) FROM sanse.coverage
                                       WHERE path IN ('d.t.v.tg.g', 'd.t.v.tg.g.m1', 'd.t.v.tg.g.m2')$$),
          '(2)', 'G, M1, M2: M1 is not the only hidden count of residents (G - M2 would give it)');
-- no hidden count alone in any group of the published views: an area and its
-- children (same measure, same key), and the residents with their tiers
CREATE TEMP TABLE pub AS
SELECT 'coverage' AS v, p.area_id, a.path, '' AS k, m.key AS m, m.value
  FROM sanse.published_coverage p JOIN sanse.area a ON a.id = p.area_id,
       jsonb_each_text(to_jsonb(p) - '{area_id,path,kind,name,coverage_rate}'::text[]) m
UNION ALL
SELECT 'overdue_events', p.area_id, a.path, p.month::text, m.key, m.value
  FROM sanse.published_overdue_events p JOIN sanse.area a ON a.id = p.area_id,
       jsonb_each_text(to_jsonb(p) - '{area_id,path,kind,name,month,median_time_to_close}'::text[]) m;
SELECT is((SELECT count(*) FROM (
	SELECT 1 FROM pub p JOIN pub c ON c.v = p.v AND c.k = p.k AND c.m = p.m AND c.path <@ p.path AND nlevel(c.path) = nlevel(p.path) + 1
	 GROUP BY p.v, p.area_id, p.k, p.m, p.value
	HAVING (p.value IS NULL)::int + count(*) FILTER (WHERE c.value IS NULL) = 1) s),
          0::bigint, 'no area-and-children group of coverage or overdue_events has exactly one hidden count');
SELECT is((SELECT count(*) FROM sanse.published_coverage
            WHERE (residents IS NULL)::int + (red IS NULL)::int + (yellow IS NULL)::int + (blue IS NULL)::int = 1),
          0::bigint, 'no residents-and-tiers group has exactly one hidden count');
SELECT is((SELECT count(*) FROM sanse.published_overdue_events
            WHERE (opened IS NULL)::int + (closed IS NULL)::int + (still_open IS NULL)::int = 1
               OR (median_time_to_close IS NOT NULL AND closed IS NULL)),
          0::bigint, 'overdue_events: opened = closed + still open never with one hidden, no median over a hidden count');
-- read roles and the owner: exact, live
SELECT is(pg_temp.rows_as('t21_read', $$SELECT residents, red, yellow, blue FROM sanse.coverage WHERE path = 'd.t.v.tg.g.m1'$$),
          '(3,3,0,0)', 'a read role reads M1 exactly, live');

-----------------------------------------------------------------------------
-- EXPLAIN ANALYZE: an aggregate role executes scans of the published tables
-- (and the areas) only; the owner's live branch reads the people.
-----------------------------------------------------------------------------
-- (area is scanned only when there are published rows to name)
SELECT matches(pg_temp.scanned_as('t21_agg', 'SELECT * FROM sanse.' || v),
          CASE v WHEN 'coverage_history' THEN '^(area,published_coverage_history,)?published_history_day$'
                 ELSE '^(area,)?published_' || v || '$' END,
          format('EXPLAIN ANALYZE of %s as an aggregate role: only published rows scanned', v))
  FROM unnest(ARRAY['coverage', 'coverage_by_tier', 'overdue_events', 'loop_metrics', 'grid_daily_report', 'coverage_history']) v;
SELECT is(pg_temp.scanned_as(current_user, 'SELECT * FROM sanse.coverage') LIKE '%resident%', true,
          'the owner''s coverage is live: EXPLAIN ANALYZE shows resident scanned');

-----------------------------------------------------------------------------
-- Item 3: one absurd row does not make the daily report walk millennia.
-----------------------------------------------------------------------------
CREATE TEMP TABLE report_before AS SELECT * FROM sanse.grid_daily_report_all;
INSERT INTO sanse.event (resident_id, area_id, tier, due_at, level_since, status, next_step_at)
SELECT r.id, r.area_id, r.tier, '4713-01-01 00:00+00 BC', '4713-01-01 00:00+00 BC', 'open', '2030-01-01 00:00+08'
  FROM sanse.resident r WHERE r.area_id = pg_temp.area_id('d.t.v.tg2.g.m4');
CREATE FUNCTION pg_temp.explain_json(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
	plan jsonb;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || q INTO plan;
	RETURN plan;
END
$$;
SELECT ok((WITH RECURSIVE n(j) AS (SELECT pg_temp.explain_json('SELECT * FROM sanse.grid_daily_report_all') -> 0 -> 'Plan'
                                   UNION ALL SELECT c FROM n, jsonb_array_elements(n.j -> 'Plans') c)
           SELECT max((j ->> 'Actual Rows')::numeric * (j ->> 'Actual Loops')::numeric) FROM n) < 100,
          'grid_daily_report_all with an event due in 4713 BC: no plan node handles 100 rows (the days walked are the days with rows)');
SELECT is((SELECT string_agg(a.name || ' ' || day::text || ' ' || events_opened, ', ') FROM sanse.grid_daily_report_all r
             JOIN sanse.area a ON a.id = r.area_id WHERE day < '1000-01-01'),
          'M4 4713-01-01 BC 1', 'the absurd row is reported on its own day');
SELECT set_eq('SELECT * FROM sanse.grid_daily_report_all WHERE day >= ''1000-01-01''', 'SELECT * FROM report_before',
              'every other day of the report is as before the absurd row');
SELECT * FROM finish();
ROLLBACK;
