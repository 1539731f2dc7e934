-- pgTAP: coverage kept per micro grid (issue 22, src/sql/80_area_count.sql).
-- On a generated district, after writes of every kind -- registrations,
-- check-ins (some back-dated), tier overrides, deactivations, moves between
-- micro grids, a forgotten resident, a cadence edited, sweeps -- the counts
-- the screen reads (area_count_now, coverage, coverage_by_tier) equal a
-- recount from the residents written here from the spec (8: overdue when
-- due, met when visited and the window not due yet nor, on a calendar
-- cadence, open), both before the sweep folds the grids written (counted
-- live) and after; and the folded rows give the right counts at any time,
-- not only now.  Then: which writes list a grid, the trigger's guard, and
-- what a client role may do with the tables and functions.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL client_min_messages = warning;
\ir include/helpers.psql
\ir ../demo/generate.sql
SELECT plan(56);

SELECT count(*) FROM sanse_demo.generate(0.17, 0.1, now() - interval '20 days', 0.1);

-- The recount at time t, per micro grid and tier (active residents with a tier).
CREATE FUNCTION pg_temp.recount(t timestamptz)
RETURNS TABLE (area_id bigint, tier text, residents bigint, overdue_now bigint, window_met bigint) LANGUAGE sql AS $$
	SELECT r.area_id, r.tier::text, count(*),
	       count(*) FILTER (WHERE r.next_visit IS NOT NULL AND sanse.due_at(r.next_visit) <= t),
	       count(*) FILTER (WHERE r.next_visit IS NOT NULL AND sanse.due_at(r.next_visit) > t AND r.last_visit_at IS NOT NULL
	                          AND (t < sanse.opens_at(r.next_visit) OR p.cadence LIKE 'rolling%'))
	  FROM sanse.resident r JOIN sanse.tier_policy p ON p.tier = r.tier
	 WHERE r.active
	 GROUP BY r.area_id, r.tier
$$;
-- The folded rows read at time t (only when nothing is listed).
CREATE FUNCTION pg_temp.folded(t timestamptz)
RETURNS TABLE (area_id bigint, tier text, residents bigint, overdue_now bigint, window_met bigint) LANGUAGE sql AS $$
	SELECT c.area_id, c.tier::text, c.residents,
	       (SELECT count(*) FROM unnest(c.due) d WHERE d <= t),
	       CASE WHEN p.cadence LIKE 'rolling%' THEN (SELECT count(*) FROM unnest(c.visited_due) d WHERE d > t)
	            ELSE (SELECT count(*) FROM unnest(c.visited_opens) o WHERE o > t) END
	  FROM sanse.area_count c JOIN sanse.tier_policy p ON p.tier = c.tier
$$;
-- coverage rolled up from the recount, every area
CREATE FUNCTION pg_temp.coverage_recount() RETURNS TABLE (area_id bigint, residents bigint, red bigint, yellow bigint,
	blue bigint, overdue_now bigint, window_met bigint, coverage_rate numeric) LANGUAGE sql AS $$
	SELECT a.id, coalesce(sum(g.residents), 0)::bigint,
	       coalesce(sum(g.residents) FILTER (WHERE g.tier = 'red'), 0)::bigint,
	       coalesce(sum(g.residents) FILTER (WHERE g.tier = 'yellow'), 0)::bigint,
	       coalesce(sum(g.residents) FILTER (WHERE g.tier = 'blue'), 0)::bigint,
	       coalesce(sum(g.overdue_now), 0)::bigint, coalesce(sum(g.window_met), 0)::bigint,
	       CASE WHEN sum(g.residents) > 0 THEN round(1 - sum(g.overdue_now) / sum(g.residents), 4) END
	  FROM sanse.area a
	  LEFT JOIN (sanse.area m JOIN pg_temp.recount(now()) g ON g.area_id = m.id) ON m.path <@ a.path
	 GROUP BY a.id
$$;
-- The screen's counts against the recount: area_count_now, coverage and
-- coverage_by_tier (every area, and one town alone).
CREATE FUNCTION pg_temp.same(stage text) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT bag_eq($q$SELECT area_id, tier::text, sum(residents)::bigint AS r, sum(overdue_now)::bigint AS o, sum(window_met)::bigint AS m
	                 FROM sanse.area_count_now GROUP BY area_id, tier$q$,
	              'SELECT * FROM pg_temp.recount(now())', stage || ': area_count_now summed per grid and tier is the recount')
	UNION ALL
	SELECT bag_eq('SELECT area_id, residents, red, yellow, blue, overdue_now, window_met, coverage_rate FROM sanse.coverage',
	              'SELECT * FROM pg_temp.coverage_recount()', stage || ': coverage is the recount rolled up')
	UNION ALL
	SELECT bag_eq($q$SELECT area_id, residents, red, yellow, blue, overdue_now, window_met, coverage_rate FROM sanse.coverage
	                 WHERE path = 'q.t2'$q$,
	              $q$SELECT c.* FROM pg_temp.coverage_recount() c JOIN sanse.area a ON a.id = c.area_id AND a.path = 'q.t2'$q$,
	              stage || ': coverage of one town is the recount')
	UNION ALL
	SELECT bag_eq('SELECT area_id, tier, residents, overdue_now, window_met FROM sanse.coverage_by_tier',
	              $q$SELECT a.id, g.tier, sum(g.residents)::bigint AS r, sum(g.overdue_now)::bigint AS o, sum(g.window_met)::bigint AS m
	                   FROM sanse.area a JOIN sanse.area m ON m.path <@ a.path JOIN pg_temp.recount(now()) g ON g.area_id = m.id
	                  GROUP BY a.id, g.tier$q$,
	              stage || ': coverage_by_tier is the recount rolled up')
$$;
-- The folded rows at times around now: the times kept are the right ones.
CREATE FUNCTION pg_temp.folded_at_any_time(stage text) RETURNS text LANGUAGE sql AS $$
	SELECT is((SELECT count(*) FROM generate_series(-40, 40, 3) h(d)
	            CROSS JOIN LATERAL (SELECT * FROM pg_temp.folded(now() + h.d * interval '1 day' + interval '7 hours')
	                                EXCEPT ALL
	                                SELECT * FROM pg_temp.recount(now() + h.d * interval '1 day' + interval '7 hours')) x), 0::bigint,
	          stage || ': the folded rows count as the residents do 40 days back to 40 days ahead')
$$;
CREATE FUNCTION pg_temp.micro_grid(n int) RETURNS bigint LANGUAGE sql AS $$
	SELECT a.id FROM sanse.area a WHERE a.kind = 'micro_grid' ORDER BY a.id OFFSET n LIMIT 1
$$;

-- 1: as generated: every grid listed, nothing folded, counted live
SELECT ok((SELECT count(*) FROM sanse.area_count_dirty) > 0 AND NOT EXISTS (SELECT 1 FROM sanse.area_count),
          'the registrations listed their grids; nothing folded yet');
SELECT pg_temp.same('generated');

-- 2: a sweep folds them
SELECT sanse.sweep(now());
SELECT ok(NOT EXISTS (SELECT 1 FROM sanse.area_count_dirty) AND EXISTS (SELECT 1 FROM sanse.area_count),
          'the sweep folded every listed grid');
SELECT pg_temp.same('swept');
SELECT pg_temp.folded_at_any_time('swept');

-- 3: writes of every kind, each listing its grids, counted live before a fold
SELECT sanse.check_in(sanse.door_token(r.id), (SELECT min(c.worker_id) FROM sanse.carer c WHERE c.resident_id = r.id),
                      now() - (r.id % 9) * interval '1 day')
  FROM (SELECT r.id FROM sanse.resident r ORDER BY md5(r.id::text) LIMIT 40) r;
SELECT is((SELECT count(DISTINCT d.area_id) FROM sanse.area_count_dirty d),
          (SELECT count(DISTINCT r.area_id) FROM sanse.visit v JOIN sanse.resident r ON r.id = v.resident_id
            WHERE v.recorded_at >= now()), 'check-ins list the grids of their residents');
SELECT ok((SELECT count(DISTINCT status) FROM sanse.resident r JOIN sanse.tier_policy p ON p.tier = r.tier
            CROSS JOIN LATERAL (SELECT sanse.visit_status(r.next_visit, r.last_visit_at, p.cadence) AS status) s
            WHERE r.active) = 3, 'checked in: residents overdue, met and pending');
SELECT pg_temp.same('checked in');
UPDATE sanse.resident SET tier_override = 'red', override_reason = 'pgTAP 43'
 WHERE id IN (SELECT r.id FROM sanse.resident r WHERE r.tier <> 'red' ORDER BY md5(r.id::text || 'o') LIMIT 15);
INSERT INTO sanse.resident (area_id, name, factors)
SELECT pg_temp.micro_grid(k * 7), 'pgTAP 43 ' || k, CASE WHEN k % 2 = 0 THEN '{}'::text[] ELSE '{lives_alone,sudden_illness}' END
  FROM generate_series(1, 12) k;
UPDATE sanse.resident SET active = false
 WHERE id IN (SELECT r.id FROM sanse.resident r WHERE r.active ORDER BY md5(r.id::text || 'd') LIMIT 10);
UPDATE sanse.resident SET area_id = pg_temp.micro_grid((id % 50)::int)
 WHERE id IN (SELECT r.id FROM sanse.resident r WHERE r.active ORDER BY md5(r.id::text || 'm') LIMIT 15);
SELECT sanse.forget_resident((SELECT min(r.id) FROM sanse.resident r WHERE NOT r.active), 'pgTAP 43: moved away');
SELECT pg_temp.same('written');
SELECT sanse.sweep(now());
SELECT pg_temp.same('written, swept');
SELECT pg_temp.folded_at_any_time('written, swept');

-- 4: a cadence edited: every resident of the tier re-derived
UPDATE sanse.tier_policy SET cadence = 'rolling 10 days' WHERE tier = 'yellow';
SELECT pg_temp.same('cadence edited');
SELECT sanse.sweep(now());
SELECT pg_temp.same('cadence edited, swept');
SELECT pg_temp.folded_at_any_time('cadence edited, swept');

-- 5: what lists a grid, and what does not
SELECT sanse.sweep(now());
UPDATE sanse.resident SET lat = 30.1, lon = 120.2 WHERE id = (SELECT min(id) FROM sanse.resident);
SELECT is((SELECT count(*) FROM sanse.area_count_dirty), 0::bigint, 'moving a door on the map lists nothing');
CREATE TEMP TABLE t43_move AS
SELECT r.id, r.area_id AS old_area FROM sanse.resident r WHERE r.active AND r.area_id <> pg_temp.micro_grid(3) ORDER BY r.id LIMIT 1;
UPDATE sanse.resident SET area_id = pg_temp.micro_grid(3) WHERE id = (SELECT m.id FROM t43_move m);
SELECT is(ARRAY(SELECT DISTINCT d.area_id FROM sanse.area_count_dirty d ORDER BY 1),
          ARRAY(SELECT x FROM unnest(ARRAY[pg_temp.micro_grid(3), (SELECT m.old_area FROM t43_move m)]) x ORDER BY 1),
          'a move lists both grids');
SELECT is((SELECT count(DISTINCT d.area_id) FROM sanse.area_count_dirty d), 2::bigint, 'a move lists two grids');
SELECT is(sanse.area_count_fold(), 2, 'the fold counts the two grids again');
SELECT is(sanse.area_count_fold(), 0, 'and nothing the second time');
SELECT pg_temp.same('moved, folded');
SELECT is(sanse.area_count_rebuild(), (SELECT count(*) FROM pg_temp.recount(now())), 'area_count_rebuild counts every grid again');

-- 6: the guard and the access
CREATE TEMP TABLE t43 (area_id bigint);
CREATE TRIGGER t43 AFTER UPDATE ON t43 FOR EACH ROW EXECUTE FUNCTION sanse.area_count_mark();
INSERT INTO t43 VALUES (1);
SELECT is(pg_temp.sqlstate_of('UPDATE t43 SET area_id = 2'), '39P01', 'area_count_mark refuses another table');
DROP TRIGGER t43 ON t43;
CREATE TRIGGER t43 BEFORE UPDATE ON t43 FOR EACH ROW EXECUTE FUNCTION sanse.area_count_mark_row();
SELECT is(pg_temp.sqlstate_of('UPDATE t43 SET area_id = 2'), '39P01', 'area_count_mark_row refuses another table');
CREATE ROLE t43_care NOLOGIN;
GRANT USAGE ON SCHEMA sanse TO t43_care;
INSERT INTO sanse.area_grant (role, path, access) VALUES ('t43_care', 'q', 'care');
SELECT ok(NOT has_table_privilege('t43_care', 'sanse.area_count', 'SELECT')
          AND NOT has_table_privilege('t43_care', 'sanse.area_count_dirty', 'SELECT,INSERT,DELETE')
          AND NOT has_table_privilege('public', 'sanse.area_count', 'SELECT')
          AND NOT has_table_privilege('t43_care', 'sanse.area_count_now', 'SELECT'),
          'a care role reads and writes neither table nor area_count_now');
SELECT ok(NOT has_function_privilege('t43_care', 'sanse.area_count_fold()', 'EXECUTE')
          AND NOT has_function_privilege('t43_care', 'sanse.area_count_rebuild()', 'EXECUTE')
          AND NOT has_function_privilege('t43_care', 'sanse.area_count_refresh(bigint[])', 'EXECUTE')
          AND NOT has_function_privilege('t43_care', 'sanse.area_count_mark()', 'EXECUTE')
          AND NOT has_function_privilege('t43_care', 'sanse.area_count_mark_row()', 'EXECUTE'),
          'nor runs its functions');
SELECT is(pg_temp.sqlstate_as('t43_care', $q$INSERT INTO sanse.resident (area_id, name) VALUES (pg_temp.micro_grid(5), 'by care')$q$),
          'ok', 'a care role registers a resident');
SELECT ok(EXISTS (SELECT 1 FROM sanse.area_count_dirty d WHERE d.area_id = pg_temp.micro_grid(5)),
          'and its grid is listed (the trigger writes as the owner)');
SELECT is(pg_temp.sqlstate_as('t43_care', 'SELECT count(*) FROM sanse.area_count'), '42501', 'a care role reads no area_count');
SELECT pg_temp.same('registered by care');

SELECT * FROM finish();
ROLLBACK;
